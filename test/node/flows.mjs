// Interoperability check: the npm package openid-client (v6) runs the
// flows gatehouse offers against a live server, with none of gatehouse's
// own code on the client side:
//
//   discovery, authorization code with PKCE (public and confidential
//   clients, the sign-in and consent pages driven as a browser would),
//   userinfo, refresh token rotation and reuse detection, a denied
//   authorization, client credentials, introspection, revocation, and CIBA
//   poll mode (approved at once, approved on the subscriber's page while
//   polling, denied), and the CAMARA Security and Interoperability
//   Profile's signed requests: an authorization request whose state, nonce
//   and PKCE challenge travel only inside a signed request object (JAR,
//   RFC 9101), a CIBA request signed the same way, both with private_key_jwt
//   client authentication, and the JWT bearer grant whose assertion is the
//   client's authentication and carries the scope.
//
// It is run by cmd/gatehouse/node_test.go (TestOpenIDClientNode), which
// starts the server and registers the clients. To run it by hand:
//
//   GH_ISSUER=http://127.0.0.1:8080 GH_REDIRECT_URI=http://127.0.0.1:9/callback \
//   GH_PUBLIC_ID=… GH_CONFIDENTIAL_ID=… GH_CONFIDENTIAL_SECRET=… node flows.mjs
//
// Environment:
//   GH_ISSUER               the issuer (also the public base URL)
//   GH_PUBLIC_ID            a public client (auth method none):
//                           authorization_code refresh_token, scopes
//                           openid phone offline_access, GH_REDIRECT_URI
//   GH_CONFIDENTIAL_ID      a confidential client (client_secret_basic):
//   GH_CONFIDENTIAL_SECRET  authorization_code refresh_token
//                           client_credentials and CIBA, scopes openid
//                           phone offline_access GH_CC_SCOPE, GH_REDIRECT_URI
//   GH_REDIRECT_URI         the redirect URI both registered (never fetched)
//   GH_PHONE                the line that signs in on the pages
//                           (default +34600000001)
//   GH_CC_SCOPE             the client_credentials scope (default
//                           sim-swap:check)
//   GH_JAR_ID               a private_key_jwt client: authorization_code,
//   GH_JAR_KEY              CIBA and JWT bearer, scopes openid phone
//                           number-verification:verify, GH_REDIRECT_URI;
//                           GH_JAR_KEY is its private key, a JWK (ES256,
//                           with kid) whose public half it registered
//
// Output: one JSON line per step, {"step":…,"ok":true|false,…}; on failure
// the line says why ("error", and the OAuth error and its description when
// the server sent one). The exit status is 1 when any step failed.

import * as client from 'openid-client'
import { createHash, randomUUID, webcrypto } from 'node:crypto'

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback
  if (v === undefined || v === '') {
    console.log(JSON.stringify({ step: 'setup', ok: false, error: `environment variable ${name} is not set` }))
    process.exit(2)
  }
  return v
}

const ISSUER = env('GH_ISSUER')
const PUBLIC_ID = env('GH_PUBLIC_ID')
const CONF_ID = env('GH_CONFIDENTIAL_ID')
const CONF_SECRET = env('GH_CONFIDENTIAL_SECRET')
const REDIRECT_URI = env('GH_REDIRECT_URI')
const PHONE = env('GH_PHONE', '+34600000001')
const CC_SCOPE = env('GH_CC_SCOPE', 'sim-swap:check')
const JAR_ID = env('GH_JAR_ID')
const JAR_JWK = JSON.parse(env('GH_JAR_KEY'))
const BEARER_SCOPE = 'number-verification:verify'
const USER_SCOPE = 'openid phone offline_access'

// ---------------------------------------------------------------- steps

let failed = 0

// step runs fn and prints its result line: fn's returned object merged into
// {step, ok: true}, or {step, ok: false, error, …} when it throws. It
// returns fn's result, or undefined after a failure.
async function step (name, fn) {
  const started = Date.now()
  try {
    const detail = (await fn()) ?? {}
    console.log(JSON.stringify({ step: name, ok: true, ms: Date.now() - started, ...publicPart(detail) }))
    return detail
  } catch (err) {
    failed++
    console.log(JSON.stringify({ step: name, ok: false, ms: Date.now() - started, ...(await describeError(err)) }))
    return undefined
  }
}

// skipped records a step that could not run because an earlier one failed.
function skipped (name, because) {
  failed++
  console.log(JSON.stringify({ step: name, ok: false, error: `not run: ${because} failed` }))
}

// publicPart drops the fields starting with _ (tokens and objects the next
// steps need) from a step's printed result.
function publicPart (detail) {
  return Object.fromEntries(Object.entries(detail).filter(([k]) => !k.startsWith('_')))
}

// describeError says what went wrong, with what openid-client and
// oauth4webapi attach to their errors: the OAuth error of the response, the
// library's error code, the claim or attribute that failed a check, and the
// body of an HTTP response the library refused without reading it (a 401
// challenge, say).
async function describeError (err) {
  const out = { error: err?.message ?? String(err) }
  if (err?.name && err.name !== 'Error') out.error_class = err.name
  if (err?.code) out.code = err.code
  if (err?.error) out.oauth_error = err.error
  if (err?.error_description) out.oauth_error_description = err.error_description
  if (err?.status) out.status = err.status
  const res = err?.response
  if (res && typeof res.clone === 'function' && !res.bodyUsed) {
    out.status ??= res.status
    out.body = (await res.clone().text().catch((e) => `(unreadable: ${e.message})`)).slice(0, 600)
  }
  const cause = err?.cause
  if (cause && typeof cause === 'object') {
    if (cause instanceof Error) {
      out.cause = cause.message
      if (cause.code) out.cause_code = cause.code
    } else {
      try {
        out.cause = JSON.parse(JSON.stringify(cause, (k, v) => (v instanceof URLSearchParams ? v.toString() : v)))
      } catch {
        out.cause = String(cause)
      }
    }
  }
  return out
}

function check (cond, message) {
  if (!cond) throw new Error(message)
}

// expectOAuthError runs fn and requires it to fail with the OAuth error
// code want (from the token endpoint or the authorization response).
async function expectOAuthError (fn, want) {
  let result
  try {
    result = await fn()
  } catch (err) {
    if (err?.error === want) {
      return { oauth_error: err.error, oauth_error_description: err.error_description, error_class: err.name }
    }
    const d = await describeError(err)
    throw new Error(`want OAuth error ${want}, got ${JSON.stringify(d)}`)
  }
  throw new Error(`want OAuth error ${want}, but the call succeeded: ${JSON.stringify(result)}`)
}

// atHash is the at_hash of an access token for ES256/RS256 ID tokens
// (OpenID Connect Core §3.1.3.6): the left half of its SHA-256, base64url.
function atHash (accessToken) {
  return createHash('sha256').update(accessToken, 'ascii').digest().subarray(0, 16).toString('base64url')
}

// ---------------------------------------------------------------- a browser

// Browser keeps cookies (for the issuer's origin only: every page lives
// there) and drives the server-rendered forms without following redirects,
// so the redirect back to the app is caught rather than fetched.
class Browser {
  constructor () {
    this.cookies = new Map()
  }

  cookieHeader () {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  store (res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const eq = pair.indexOf('=')
      if (eq < 1) continue
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const expired = attrs.some((a) => {
        const [k, v] = a.trim().split('=')
        return (k.toLowerCase() === 'max-age' && Number(v) <= 0) ||
          (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now())
      })
      if (expired || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }

  async request (url, init = {}) {
    const u = new URL(url)
    const headers = new Headers(init.headers)
    if (u.origin === new URL(ISSUER).origin && this.cookies.size) headers.set('cookie', this.cookieHeader())
    const res = await fetch(u, { ...init, headers, redirect: 'manual' })
    this.store(res)
    const body = await res.text()
    return { status: res.status, url: u, location: res.headers.get('location'), type: res.headers.get('content-type') ?? '', body }
  }

  get (url) {
    return this.request(url)
  }

  post (url, form) {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString()
    })
  }

  // submit posts the page's form that has the button name=action
  // value=<action>, with the form's hidden fields and the given fields.
  submit (page, action, fields = {}) {
    const form = findForm(page, action)
    return this.post(new URL(form.action, page.url), { ...form.hidden, ...fields, action })
  }
}

function unescapeHTML (s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (_, e) => {
    const k = e.toLowerCase()
    if (k.startsWith('#x')) return String.fromCodePoint(parseInt(k.slice(2), 16))
    if (k.startsWith('#')) return String.fromCodePoint(parseInt(k.slice(1), 10))
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[k]
  })
}

function attr (tag, name) {
  const m = tag.match(new RegExp(`\\s${name}="([^"]*)"`, 'i'))
  return m ? unescapeHTML(m[1]) : undefined
}

// findForm returns the action and hidden fields of the form holding the
// submit button name="action" value=<action> (web/*.html templates).
function findForm (page, action) {
  check(page.status === 200 && page.type.startsWith('text/html'),
    `expected an HTML page with a form for action=${action}, got ${page.status} ${page.type}` +
    (page.location ? ` (Location: ${page.location})` : '') + `: ${pageSummary(page)}`)
  for (const [, open, inner] of page.body.matchAll(/(<form\b[^>]*>)([\s\S]*?)<\/form>/gi)) {
    const hasButton = [...inner.matchAll(/<button\b[^>]*>/gi)]
      .some(([b]) => attr(b, 'name') === 'action' && attr(b, 'value') === action)
    if (!hasButton) continue
    const hidden = {}
    for (const [input] of inner.matchAll(/<input\b[^>]*>/gi)) {
      if ((attr(input, 'type') ?? '').toLowerCase() === 'hidden') hidden[attr(input, 'name')] = attr(input, 'value') ?? ''
    }
    return { action: attr(open, 'action') ?? page.url.pathname, hidden }
  }
  throw new Error(`the page has no form with a button action=${action}: ${pageSummary(page)}`)
}

// pageSummary is the title and first alert of a page, for error messages.
function pageSummary (page) {
  const title = page.body.match(/<title>([\s\S]*?)<\/title>/i)?.[1]
  const alert = page.body.match(/role="alert"[^>]*>([\s\S]*?)</i)?.[1]
  const s = [title, alert].filter(Boolean).map((x) => unescapeHTML(x.trim())).join(' — ')
  return s || page.body.slice(0, 200)
}

function isRedirectToApp (res) {
  return (res.status === 302 || res.status === 303) && res.location?.startsWith(REDIRECT_URI)
}

function expectRedirectToApp (res, stage) {
  check(isRedirectToApp(res),
    `${stage}: expected a redirect to ${REDIRECT_URI}, got ${res.status}` +
    (res.location ? ` Location: ${res.location}` : ` ${pageSummary(res)}`))
  return new URL(res.location)
}

// ---------------------------------------------------------------- flows

const insecure = { execute: [client.allowInsecureRequests] } // the test issuer is http on loopback

// authorizationRequest builds a PKCE (S256) authorization request with
// state and nonce for config.
async function authorizationRequest (config, extra = {}) {
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: USER_SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra
  })
  return { url, checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true } }
}

// redeem exchanges the code of an authorization response and checks the
// ID token beyond what openid-client checks itself (at_hash, azp,
// auth_time).
async function redeem (config, callback, checks) {
  const tokens = await client.authorizationCodeGrant(config, callback, checks)
  const claims = tokens.claims()
  check(claims, 'the token response has no ID token')
  check(tokens.access_token, 'no access_token')
  check(tokens.token_type?.toLowerCase() === 'bearer', `token_type = ${tokens.token_type}; want Bearer`)
  check(claims.nonce === checks.expectedNonce, `nonce = ${claims.nonce}; want ${checks.expectedNonce}`)
  check(claims.at_hash === atHash(tokens.access_token), `at_hash = ${claims.at_hash}; want ${atHash(tokens.access_token)}`)
  check(typeof claims.auth_time === 'number', 'the ID token has no auth_time')
  check(!claims.sub.includes(PHONE.slice(1)), `sub ${claims.sub} reveals the phone number`)
  check(tokens.refresh_token, 'no refresh_token although offline_access was granted')
  const scopes = (tokens.scope ?? '').split(' ')
  for (const s of USER_SCOPE.split(' ')) check(scopes.includes(s), `scope ${tokens.scope} lacks ${s}`)
  return { tokens, claims }
}

async function main () {
  const issuer = new URL(ISSUER)

  const configs = await step('discovery', async () => {
    const pub = await client.discovery(issuer, PUBLIC_ID, undefined, client.None(), insecure)
    const conf = await client.discovery(issuer, CONF_ID, undefined, client.ClientSecretBasic(CONF_SECRET), insecure)
    const md = pub.serverMetadata()
    check(md.issuer === ISSUER, `issuer ${md.issuer}; want ${ISSUER}`)
    for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri',
      'backchannel_authentication_endpoint', 'introspection_endpoint', 'revocation_endpoint']) {
      check(typeof md[k] === 'string' && md[k].startsWith(ISSUER), `${k} = ${md[k]}`)
    }
    check(md.supportsPKCE('S256'), 'code_challenge_methods_supported lacks S256')
    check(md.authorization_response_iss_parameter_supported === true, 'authorization_response_iss_parameter_supported is not true')
    // The RFC 8414 document (/.well-known/oauth-authorization-server) too.
    const oauth2 = await client.discovery(issuer, CONF_ID, undefined, client.ClientSecretBasic(CONF_SECRET),
      { ...insecure, algorithm: 'oauth2' })
    check(oauth2.serverMetadata().token_endpoint === md.token_endpoint, 'the RFC 8414 metadata names another token endpoint')
    // Signed requests (CAMARA profile): by value, ES256 among the
    // algorithms for both endpoints; not by reference.
    check(md.request_parameter_supported === true, 'request_parameter_supported is not true')
    check(md.request_uri_parameter_supported === false, 'request_uri_parameter_supported is not false')
    for (const k of ['request_object_signing_alg_values_supported', 'backchannel_authentication_request_signing_alg_values_supported']) {
      check(md[k]?.includes('ES256') && !md[k].includes('none') && !md[k].includes('HS256'), `${k} = ${JSON.stringify(md[k])}`)
    }
    const { kid, alg, use, key_ops: _, ...material } = JAR_JWK
    const jarKey = { kid, key: await webcrypto.subtle.importKey('jwk', material, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']) }
    const jar = await client.discovery(issuer, JAR_ID, undefined, client.PrivateKeyJwt(jarKey), insecure)
    return { issuer: md.issuer, grant_types_supported: md.grant_types_supported, _pub: pub, _conf: conf, _jar: jar, _jarKey: jarKey }
  })
  if (!configs) {
    for (const s of ['authorize', 'authorization_code', 'userinfo', 'refresh', 'refresh_reuse', 'authorize_confidential',
      'authorize_consent_remembered', 'authorize_denied', 'client_credentials', 'introspection', 'revocation',
      'ciba', 'ciba_pending', 'ciba_denied', 'authorize_jar', 'ciba_jar', 'jwt_bearer', 'jwt_bearer_scope_parameter']) skipped(s, 'discovery')
    return
  }
  const { _pub: pub, _conf: conf, _jar: jar, _jarKey: jarKey } = configs
  const browser = new Browser()

  // The user signs in on the login page ("identify by the network", the
  // sandbox's sign-in) and allows the app on the consent page.
  const auth = await step('authorize', async () => {
    const req = await authorizationRequest(pub)
    const login = await browser.get(req.url)
    check(browser.cookies.has('gh_browser'), 'the login page set no gh_browser cookie')
    const consent = await browser.submit(login, 'network', { phone: PHONE })
    check(browser.cookies.has('gh_session'), `signing in set no gh_session cookie: ${consent.status} ${pageSummary(consent)}`)
    const back = await browser.submit(consent, 'allow')
    const callback = expectRedirectToApp(back, 'allow')
    check(callback.searchParams.get('iss') === ISSUER, `the authorization response's iss is ${callback.searchParams.get('iss')}; want ${ISSUER} (RFC 9207)`)
    return { redirect_status: back.status, _callback: callback, _checks: req.checks }
  })

  const code = auth && await step('authorization_code', async () => {
    const { tokens, claims } = await redeem(pub, auth._callback, auth._checks)
    return { sub: claims.sub, scope: tokens.scope, expires_in: tokens.expires_in, _tokens: tokens, _claims: claims }
  })
  if (!auth) skipped('authorization_code', 'authorize')

  if (code) {
    await step('userinfo', async () => {
      const info = await client.fetchUserInfo(pub, code._tokens.access_token, code._claims.sub)
      check(info.phone_number === PHONE, `phone_number = ${info.phone_number}; want ${PHONE}`)
      check(info.phone_number_verified === true, `phone_number_verified = ${info.phone_number_verified}`)
      return { sub: info.sub, phone_number: info.phone_number }
    })

    const refreshed = await step('refresh', async () => {
      const old = code._tokens.refresh_token
      const tokens = await client.refreshTokenGrant(pub, old)
      check(tokens.access_token && tokens.access_token !== code._tokens.access_token, 'the refresh gave no new access token')
      check(tokens.refresh_token, 'the refresh gave no new refresh token (rotation)')
      check(tokens.refresh_token !== old, 'the refresh token did not rotate')
      const claims = tokens.claims()
      if (claims) {
        check(claims.sub === code._claims.sub, `the refreshed ID token's sub ${claims.sub} differs from ${code._claims.sub}`)
        check(claims.at_hash === atHash(tokens.access_token), 'the refreshed ID token has a wrong at_hash')
      }
      const info = await client.fetchUserInfo(pub, tokens.access_token, code._claims.sub)
      check(info.phone_number === PHONE, `userinfo with the refreshed token: phone_number = ${info.phone_number}`)
      return { rotated: true, id_token: Boolean(claims), scope: tokens.scope }
    })

    // Reuse of the rotated refresh token revokes the family (RFC 9700
    // §4.14.2); openid-client sees invalid_grant.
    if (refreshed) {
      await step('refresh_reuse', () => expectOAuthError(() => client.refreshTokenGrant(pub, code._tokens.refresh_token), 'invalid_grant'))
    } else {
      skipped('refresh_reuse', 'refresh')
    }
  } else {
    for (const s of ['userinfo', 'refresh', 'refresh_reuse']) skipped(s, 'authorization_code')
  }

  if (auth) {
    // Another app, same browser: the session signs the user in, so the
    // consent page comes first; the confidential client redeems the code
    // with client_secret_basic and PKCE.
    await step('authorize_confidential', async () => {
      const req = await authorizationRequest(conf)
      const consent = await browser.get(req.url)
      findForm(consent, 'allow') // the consent page, not the sign-in page
      const back = await browser.submit(consent, 'allow')
      const { tokens, claims } = await redeem(conf, expectRedirectToApp(back, 'allow'), req.checks)
      const info = await client.fetchUserInfo(conf, tokens.access_token, claims.sub)
      check(info.phone_number === PHONE, `phone_number = ${info.phone_number}`)
      check(!code || claims.sub !== code._claims.sub, 'the two clients got the same sub; subjects must be pairwise')
      return { sub: claims.sub }
    })

    // The public app again with the same scopes: consent given in this
    // session is remembered, so the endpoint answers with the code at once.
    await step('authorize_consent_remembered', async () => {
      const req = await authorizationRequest(pub)
      const back = await browser.get(req.url)
      const { claims } = await redeem(pub, expectRedirectToApp(back, 'remembered consent'), req.checks)
      check(!code || claims.sub === code._claims.sub, 'the same user and app got another sub')
      return { redirect_status: back.status }
    })

    // prompt=consent shows the page again; Deny sends access_denied back
    // to the app, which openid-client validates (state, iss) and raises.
    await step('authorize_denied', async () => {
      const req = await authorizationRequest(pub, { prompt: 'consent' })
      const consent = await browser.get(req.url)
      const back = await browser.submit(consent, 'deny')
      const callback = expectRedirectToApp(back, 'deny')
      check(callback.searchParams.get('iss') === ISSUER, `the error response's iss is ${callback.searchParams.get('iss')}; want ${ISSUER} (RFC 9207)`)
      return expectOAuthError(() => client.authorizationCodeGrant(pub, callback, req.checks), 'access_denied')
    })
  } else {
    for (const s of ['authorize_confidential', 'authorize_consent_remembered', 'authorize_denied']) skipped(s, 'authorize')
  }

  // A signed authorization request (JAR): openid-client puts every
  // parameter, state, nonce and the PKCE challenge included, in a request
  // object signed with the client's key and sends only client_id and
  // request. openid-client checks that the state comes back; the code
  // exchange (private_key_jwt) needs the verifier of the challenge inside.
  await step('authorize_jar', async () => {
    const verifier = client.randomPKCECodeVerifier()
    const checks = { pkceCodeVerifier: verifier, expectedState: client.randomState(), expectedNonce: client.randomNonce(), idTokenExpected: true }
    const url = await client.buildAuthorizationUrlWithJAR(jar, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid phone',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: checks.expectedState,
      nonce: checks.expectedNonce
    }, jarKey)
    check([...url.searchParams.keys()].sort().join(' ') === 'client_id request', `the JAR URL carries ${[...url.searchParams.keys()]}`)
    const b = new Browser()
    const login = await b.get(url)
    const consent = await b.submit(login, 'network', { phone: PHONE })
    const callback = expectRedirectToApp(await b.submit(consent, 'allow'), 'allow')
    const tokens = await client.authorizationCodeGrant(jar, callback, checks)
    const claims = tokens.claims()
    check(claims?.nonce === checks.expectedNonce, `nonce = ${claims?.nonce}; want the request object's`)
    check(tokens.scope === 'openid phone', `scope = ${tokens.scope}`)
    return { state_returned: callback.searchParams.get('state') === checks.expectedState, sub: claims.sub }
  })

  const cc = await step('client_credentials', async () => {
    const tokens = await client.clientCredentialsGrant(conf, { scope: CC_SCOPE })
    check(tokens.access_token, 'no access_token')
    check(tokens.token_type?.toLowerCase() === 'bearer', `token_type = ${tokens.token_type}`)
    check(tokens.expires_in > 0, `expires_in = ${tokens.expires_in}`)
    check(tokens.scope === CC_SCOPE, `scope = ${tokens.scope}; want ${CC_SCOPE}`)
    check(!tokens.refresh_token && !tokens.id_token, 'client_credentials must not issue refresh or ID tokens')
    return { scope: tokens.scope, expires_in: tokens.expires_in, _token: tokens.access_token }
  })
  if (cc) {
    await step('introspection', async () => {
      const r = await client.tokenIntrospection(conf, cc._token)
      check(r.active === true, `active = ${r.active}`)
      check(r.client_id === CONF_ID, `client_id = ${r.client_id}`)
      check(r.scope === CC_SCOPE, `scope = ${r.scope}`)
      return { active: r.active }
    })
    await step('revocation', async () => {
      await client.tokenRevocation(conf, cc._token)
      const r = await client.tokenIntrospection(conf, cc._token)
      check(r.active === false, `after revocation active = ${r.active}`)
      return { active: r.active }
    })
  } else {
    skipped('introspection', 'client_credentials')
    skipped('revocation', 'client_credentials')
  }

  // The JWT bearer grant as the CAMARA profile has it: the assertion,
  // signed with the client's key, is its only authentication (openid-client
  // sends just client_id beside it), and the scope travels in its scope
  // claim: the token has that scope alone, not every scope of the client.
  const bearer = (sub, scope) => signJWT(jarKey, {
    iss: JAR_ID, sub, aud: jar.serverMetadata().token_endpoint, scope, jti: randomUUID()
  })
  const asAssertion = new client.Configuration(jar.serverMetadata(), JAR_ID, undefined, client.None())
  client.allowInsecureRequests(asAssertion)
  await step('jwt_bearer', async () => {
    const tokens = await client.genericGrantRequest(asAssertion, 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      { assertion: await bearer(`tel:${PHONE}`, BEARER_SCOPE) })
    check(tokens.access_token, 'no access_token')
    check(tokens.scope === BEARER_SCOPE, `scope = ${tokens.scope}; want ${BEARER_SCOPE} alone`)
    check(!tokens.refresh_token, 'the JWT bearer grant must not issue a refresh token')
    return { scope: tokens.scope }
  })
  // The profile forbids the scope parameter beside the assertion.
  await step('jwt_bearer_scope_parameter', async () => {
    const assertion = await bearer(`tel:${PHONE}`, BEARER_SCOPE)
    return expectOAuthError(() => client.genericGrantRequest(asAssertion, 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      { assertion, scope: BEARER_SCOPE }), 'invalid_request')
  })

  // CIBA poll mode. The three requests poll concurrently (each waits the
  // interval, 5 s, before its first poll).
  await Promise.all([
    // …1: the sandbox subscriber approves at once.
    step('ciba', async () => {
      const hint = 'tel:+34600000001'
      const started = await client.initiateBackchannelAuthentication(conf, { scope: 'openid phone', login_hint: hint, binding_message: 'Node 42' })
      check(started.auth_req_id && started.expires_in > 0, `bc-authorize answered ${JSON.stringify(started)}`)
      const tokens = await client.pollBackchannelAuthenticationGrant(conf, started)
      const claims = tokens.claims()
      check(claims, 'no ID token')
      check(claims.at_hash === atHash(tokens.access_token), 'wrong at_hash')
      const info = await client.fetchUserInfo(conf, tokens.access_token, claims.sub)
      check(info.phone_number === '+34600000001', `userinfo phone_number = ${info.phone_number}`)
      return { sub: claims.sub, interval: started.interval, expires_in: started.expires_in }
    }),
    // …8: pending until the subscriber answers on the sandbox's approval
    // page; openid-client keeps polling through authorization_pending.
    step('ciba_pending', async () => {
      const phone = '+34600000008'
      let pendingSeen = 0
      let approval
      const polling = new client.Configuration(conf.serverMetadata(), CONF_ID, undefined, client.ClientSecretBasic(CONF_SECRET))
      client.allowInsecureRequests(polling)
      polling[client.customFetch] = async (url, options) => {
        const res = await fetch(url, options)
        if (String(url).endsWith('/oauth2/token') && res.status === 400) {
          const body = await res.clone().json().catch(() => ({}))
          if (body.error === 'authorization_pending' && pendingSeen++ === 0) {
            approval = approveOnPage(phone)
            await approval // approved before openid-client sees the pending answer
          }
        }
        return res
      }
      const started = await client.initiateBackchannelAuthentication(polling, { scope: 'openid', login_hint: `tel:${phone}` })
      const tokens = await client.pollBackchannelAuthenticationGrant(polling, started)
      check(pendingSeen >= 1, 'the request was never pending')
      check(tokens.claims(), 'no ID token')
      return { polls_pending: pendingSeen, approved_on_page: await approval }
    }),
    // …0: the subscriber denies.
    step('ciba_denied', async () => {
      const started = await client.initiateBackchannelAuthentication(conf, { scope: 'openid', login_hint: 'tel:+34600000000' })
      return expectOAuthError(() => client.pollBackchannelAuthenticationGrant(conf, started), 'access_denied')
    }),
    // A signed CIBA request (CIBA Core §7.1.1): scope and login_hint only
    // inside the request object, which openid-client signs (aud the
    // issuer, iat, nbf, exp, jti); private_key_jwt beside it.
    step('ciba_jar', async () => {
      const signed = await client.buildAuthorizationUrlWithJAR(jar, { scope: 'openid phone', login_hint: 'tel:+34600000001' }, jarKey)
      const started = await client.initiateBackchannelAuthentication(jar, { request: signed.searchParams.get('request') })
      const tokens = await client.pollBackchannelAuthenticationGrant(jar, started)
      check(tokens.claims(), 'no ID token')
      check(tokens.scope === 'openid phone', `scope = ${tokens.scope}`)
      const info = await client.fetchUserInfo(jar, tokens.access_token, tokens.claims().sub)
      check(info.phone_number === '+34600000001', `userinfo phone_number = ${info.phone_number}`)
      return { sub: tokens.claims().sub }
    })
  ])
}

// signJWT signs claims as an ES256 compact JWS with key ({kid, key}), with
// iat now and exp a minute later unless claims set them.
async function signJWT (key, claims) {
  const now = Math.floor(Date.now() / 1000)
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const input = `${enc({ alg: 'ES256', typ: 'JWT', kid: key.kid })}.${enc({ iat: now, exp: now + 60, ...claims })}`
  const sig = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.key, Buffer.from(input))
  return `${input}.${Buffer.from(sig).toString('base64url')}`
}

// approveOnPage answers the line's pending CIBA request on the sandbox's
// approval page (/oauth2/ciba), as the subscriber would on their phone.
async function approveOnPage (phone) {
  const b = new Browser()
  const page = new URL(new URL(ISSUER).pathname.replace(/\/$/, '') + '/oauth2/ciba', ISSUER)
  let res = await b.get(page)
  res = await b.submit(res, 'network', { phone })
  check(res.status === 303, `signing in on the CIBA page answered ${res.status}: ${pageSummary(res)}`)
  res = await b.get(new URL(res.location, page))
  res = await b.submit(res, 'approve')
  check(res.status === 303 && res.location?.includes('result=approved'), `approving answered ${res.status} ${res.location ?? pageSummary(res)}`)
  return true
}

try {
  await main()
} catch (err) {
  failed++
  console.log(JSON.stringify({ step: 'internal', ok: false, ...(await describeError(err)), stack: err?.stack }))
}
process.exit(failed ? 1 : 0)
