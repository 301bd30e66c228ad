// Package storetest is the conformance suite every store.Store backend
// passes. A backend's tests call Run with a function that makes a fresh,
// empty store; a feature package can rely on any behaviour tested here,
// whichever backend is configured.
//
// Besides the rules written in package store, the suite pins down what the
// interface leaves open, the same way for every backend:
//   - Empty values come back nil: a nil or empty []string or []byte is read
//     back as nil, and a list with elements comes back with the same
//     elements in the same order.
//   - Times come back in UTC, equal to what was stored at millisecond
//     precision (a backend may keep more), and the zero time.Time comes back
//     as the zero time.
//   - CreateClient sets a zero CreatedAt to the current time and a zero
//     UpdatedAt to CreatedAt, RotateSigningKey sets a zero CreatedAt and
//     RevokeToken a zero RevokedAt to the current time, and they write the
//     value they stored back into their argument.
//   - UpdateClient sets UpdatedAt to the current time and returns the client
//     exactly as a later GetClient returns it. An error from the update
//     function is returned unchanged (errors.Is matches it) and leaves the
//     record as it was. Concurrent updates of one client never lose one
//     another's changes.
//   - DeleteClient of an unknown ID returns store.ErrNotFound.
//   - CreateAPI, UpdateAPI and DeleteAPI follow the client rules above
//     (timestamps filled and written back, update errors returned unchanged,
//     no lost concurrent updates, store.ErrNotFound for a missing name).
//     Names and base paths are compared byte for byte: a taken name or base
//     path is store.ErrConflict, for CreateAPI and for an UpdateAPI that
//     moves to a taken base path, and of concurrent creates with one base
//     path exactly one succeeds. UpdateAPI refuses an update that changes
//     the name with an error that wraps none of the sentinels. An API's
//     Document comes back byte for byte, whatever its size or bytes.
//     ListAPIs is ordered by name in byte order (sort.Strings).
//   - APIsGeneration is 0 for a new store and grows by exactly one with
//     every successful CreateAPI, UpdateAPI (even one that changes nothing)
//     and DeleteAPI; failed calls, reads and writes of other records leave
//     it as it was.
//   - CreatePlan, UpdatePlan, CreateSubscription and UpdateSubscription
//     follow the client rules above (timestamps filled and written back,
//     update errors returned unchanged, no lost concurrent updates,
//     store.ErrNotFound for a missing key); an update that changes a
//     plan's name or a subscription's ID, client or API is refused with an
//     error that wraps none of the sentinels, and so is a subscription
//     with an empty ID. Rates come back exactly. Names, IDs and the keys
//     subscriptions refer by are compared byte for byte; ListPlans is
//     ordered by name and ListSubscriptions by client, then API, in byte
//     order.
//   - CreateSubscription returns store.ErrConflict for a taken ID or a
//     client that already subscribes to the API, and store.ErrNotFound
//     when the client, API or plan is missing; UpdateSubscription returns
//     store.ErrNotFound for a missing plan; DeletePlan returns
//     store.ErrConflict while a subscription uses the plan. Each changes
//     nothing when it fails.
//   - Deleting a client or an API deletes its subscriptions; recreating it
//     brings none back.
//   - AccessGeneration is 0 for a new store and grows by exactly one with
//     every successful plan or subscription write (even one that changes
//     nothing), and with every DeleteClient or DeleteAPI that deleted at
//     least one subscription; failed calls, reads, other writes and
//     deleting a client or an API without subscriptions leave it as it
//     was. A subscription created while its client or API (or app, or
//     organisation) is being deleted either fails with store.ErrNotFound
//     or is counted by the deletion too: no subscription goes uncounted.
//   - Orders (PlaceOrder, ListOrders) and subscriptions' pending plans
//     follow the rules written at the top of orders.go.
//   - AddUsage truncates hours to the UTC hour, sums records of one bucket
//     within and across batches (keeping the larger LatencyMax), treats an
//     empty batch as a no-op, does not modify its argument, and loses
//     nothing to concurrent batches. Usage refers to nothing: it needs no
//     client or API and outlives them. ListUsage compares hours exactly
//     with From and To. Latency histograms add up per client, API and
//     hour over every status and error (ListUsageLatency), in the same
//     transaction as the counts.
//   - The request log follows the rules written at the top of
//     requestlog.go.
//   - ListSigningKeys returns every key newest first; rotating retires
//     every key that is current, and concurrent rotations leave exactly one
//     current key. Rotating to an existing key ID returns store.ErrConflict
//     and retires nothing.
//   - ListRevokedTokensSince returns the matching revocations oldest first.
//     A revocation or assertion id with a zero expiry never expires.
//   - An assertion id is expired, and may be used again, once its expiry is
//     not after the current time. Of concurrent uses of one id, exactly one
//     succeeds.
//   - CreateUser, CreateAuthCode, CreateRefreshToken and CreateCIBARequest
//     fill and write back zero timestamps like CreateClient; an empty ID,
//     username, hash or family is refused with an error that wraps none of
//     the sentinels. A taken key (user ID, username or phone number, code
//     or token hash, CIBA request ID) is store.ErrConflict, and a code,
//     token or CIBA request for a missing client or user is
//     store.ErrNotFound; either way nothing changes. Keys are compared
//     byte for byte. Users without a phone number are many, and
//     GetUserByPhone("") finds none of them. ListUsers is ordered by
//     username in byte order.
//   - Deleting a user or a client deletes its authorization codes, refresh
//     tokens and CIBA requests; recreating it brings none back.
//   - RedeemAuthCode, RotateRefreshToken and RevokeRefreshFamily take the
//     caller's now, a zero now meaning the current time.
//   - RedeemAuthCode of a used code returns the stored code (UsedAt the
//     first use's) with store.ErrConflict; of concurrent redemptions
//     exactly one succeeds. An expired code is redeemed like any other.
//   - RotateRefreshToken of a rotated or revoked token returns the stored
//     token with store.ErrConflict and stores no successor; reuse is
//     reported before anything wrong with the successor. A successor of
//     another family, with an empty or taken hash, or missing, is refused
//     with an error that wraps none of the sentinels, and one for a
//     missing client or user with store.ErrNotFound, and nothing changes.
//     A zero successor CreatedAt becomes now. Of concurrent rotations of
//     one token exactly one succeeds and stores its successor; concurrent
//     rotations of distinct families all succeed.
//   - RevokeRefreshFamily revokes every token of the family not revoked
//     yet, keeps earlier RevokedAt, accepts an unknown family, and leaves
//     no token usable that a concurrent rotation stored.
//   - UpdateCIBARequest follows UpdateClient's rules; changing the ID,
//     client or user is refused with an error that wraps none of the
//     sentinels. ListPendingCIBARequests returns the user's pending
//     requests, expired ones included, ordered by CreatedAt then ID in
//     byte order.
//   - DeleteExpiredGrants deletes the codes, refresh tokens and CIBA
//     requests that expired strictly before now, whether used, rotated or
//     revoked; records without an expiry are kept.
//   - CreateDeveloper, CreateOrganization, AddMember, CreateInvitation and
//     CreateApp fill and write back zero timestamps like CreateClient
//     (CreateOrganization gives the owner's membership the organisation's
//     CreatedAt), and leave their argument as it was when they fail; an
//     empty ID or e-mail address is refused with an error that wraps none
//     of the sentinels. UpdateDeveloper, UpdateOrganization and UpdateApp
//     follow UpdateClient's rules; changing the ID (or an app's
//     organisation) is refused with an error that wraps none of the
//     sentinels.
//   - E-mail addresses of developers and invitations are stored
//     lower-cased (strings.ToLower) and written back so, and
//     GetDeveloperByEmail lower-cases its argument: an address finds, and
//     takes, one account whatever its case (a taken address in another
//     case is store.ErrConflict). Other keys are compared byte for byte.
//   - ListDevelopers is ordered by e-mail address, ListOrganizations by
//     name then ID, ListAppClients by environment then ID, in byte order.
//     ListMembers, ListMemberships, ListInvitations and ListApps are
//     ordered by CreatedAt, ties by developer ID, organisation ID, ID and
//     ID in byte order. Lists of a missing key are empty.
//   - SetMemberRole, RemoveMember and GetMembership of a developer who is
//     not a member return store.ErrNotFound, and so do AddMember and
//     AcceptInvitation for a missing organisation or developer.
//   - AcceptInvitation creates the membership at now (a zero now meaning
//     the current time) with the invitation's role. Of concurrent accepts
//     of one invitation, by one developer or several, exactly one
//     succeeds; the others return store.ErrNotFound.
//   - A client's AppID, Environment and LastUsedAt round-trip through every
//     client method; an empty AppID is no app. A client whose AppID names
//     no app is store.ErrNotFound for CreateClient and UpdateClient. An
//     app has at most one client per environment (store.ErrConflict for a
//     second one); clients without an app are not limited.
//   - Deleting an app deletes its clients with their subscriptions and
//     grants; deleting an organisation deletes its memberships,
//     invitations and apps, with the apps' clients and theirs; deleting a
//     developer deletes their memberships. Nothing else goes, and
//     recreating what was deleted brings none of it back. The access
//     generation grows by exactly one with every DeleteApp or
//     DeleteOrganization that deleted at least one subscription, and
//     otherwise stays, like DeleteClient's.
//   - RecordClientUse raises each named client's LastUsedAt to at and never
//     lowers it, whatever order concurrent calls run in; it changes nothing
//     else of the client (UpdatedAt included), ignores unknown and repeated
//     ids, accepts any number of ids (none is a no-op), and takes a zero
//     at as the current time.
//   - After Close, every method returns an error wrapping
//     store.ErrUnavailable; closing twice is not an error.
//   - A failed call never reports store.ErrNotFound for anything but a
//     missing record (for example when its context is cancelled).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// Run runs the conformance suite as subtests of t. newStore must return a
// new, empty store each time it is called; the suite closes it when the
// subtest ends (Close may already have been called), after which newStore
// may release whatever it set up through t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"ClientRoundTrip", testClientRoundTrip},
		{"ClientEmptyValues", testClientEmptyValues},
		{"ClientTimePrecision", testClientTimePrecision},
		{"ClientListEncoding", testClientListEncoding},
		{"CreateClientConflict", testCreateClientConflict},
		{"GetClientNotFound", testGetClientNotFound},
		{"ListClients", testListClients},
		{"UpdateClient", testUpdateClient},
		{"UpdateClientNotFound", testUpdateClientNotFound},
		{"UpdateClientAbort", testUpdateClientAbort},
		{"UpdateClientConcurrent", testUpdateClientConcurrent},
		{"DeleteClient", testDeleteClient},
		{"APIRoundTrip", testAPIRoundTrip},
		{"APIEmptyValues", testAPIEmptyValues},
		{"APIValues", testAPIValues},
		{"APITimePrecision", testAPITimePrecision},
		{"CreateAPIConflict", testCreateAPIConflict},
		{"GetAPINotFound", testGetAPINotFound},
		{"ListAPIs", testListAPIs},
		{"UpdateAPI", testUpdateAPI},
		{"UpdateAPINotFound", testUpdateAPINotFound},
		{"UpdateAPIAbort", testUpdateAPIAbort},
		{"UpdateAPIConflict", testUpdateAPIConflict},
		{"UpdateAPIRename", testUpdateAPIRename},
		{"UpdateAPIConcurrent", testUpdateAPIConcurrent},
		{"DeleteAPI", testDeleteAPI},
		{"APIsGeneration", testAPIsGeneration},
		{"APIsGenerationConcurrent", testAPIsGenerationConcurrent},
		{"SigningKeyRotation", testSigningKeyRotation},
		{"SigningKeyRotationConflict", testSigningKeyRotationConflict},
		{"SigningKeyRotationConcurrent", testSigningKeyRotationConcurrent},
		{"SigningKeyCreatedAtDefault", testSigningKeyCreatedAtDefault},
		{"DeleteSigningKeysRetiredBefore", testDeleteSigningKeysRetiredBefore},
		{"RevokeToken", testRevokeToken},
		{"ListRevokedTokensSince", testListRevokedTokensSince},
		{"UseAssertionID", testUseAssertionID},
		{"UseAssertionIDExpired", testUseAssertionIDExpired},
		{"UseAssertionIDConcurrent", testUseAssertionIDConcurrent},
		{"Idempotency", testIdempotency},
		{"IdempotencyConcurrent", testIdempotencyConcurrent},
		{"DeleteExpired", testDeleteExpired},
		{"PlanRoundTrip", testPlanRoundTrip},
		{"PlanValues", testPlanValues},
		{"CreatePlanConflict", testCreatePlanConflict},
		{"GetPlanNotFound", testGetPlanNotFound},
		{"ListPlans", testListPlans},
		{"UpdatePlan", testUpdatePlan},
		{"UpdatePlanErrors", testUpdatePlanErrors},
		{"UpdatePlanConcurrent", testUpdatePlanConcurrent},
		{"DeletePlan", testDeletePlan},
		{"QuotaCounts", testQuotaCounts},
		{"QuotaCountsConcurrent", testQuotaCountsConcurrent},
		{"SubscriptionRoundTrip", testSubscriptionRoundTrip},
		{"SubscriptionDefaults", testSubscriptionDefaults},
		{"CreateSubscriptionConflict", testCreateSubscriptionConflict},
		{"CreateSubscriptionNotFound", testCreateSubscriptionNotFound},
		{"GetSubscriptionNotFound", testGetSubscriptionNotFound},
		{"ListSubscriptions", testListSubscriptions},
		{"UpdateSubscription", testUpdateSubscription},
		{"UpdateSubscriptionErrors", testUpdateSubscriptionErrors},
		{"UpdateSubscriptionConcurrent", testUpdateSubscriptionConcurrent},
		{"DeleteSubscription", testDeleteSubscription},
		{"SubscriptionCascade", testSubscriptionCascade},
		{"SubscriptionCascadeConcurrent", testSubscriptionCascadeConcurrent},
		{"AccessGeneration", testAccessGeneration},
		{"AccessGenerationConcurrent", testAccessGenerationConcurrent},
		{"PendingPlan", testPendingPlan},
		{"PlaceOrder", testPlaceOrder},
		{"PlaceOrderAtomic", testPlaceOrderAtomic},
		{"PlaceOrderConcurrent", testPlaceOrderConcurrent},
		{"ListOrders", testListOrders},
		{"OrdersOutliveDeletes", testOrdersOutliveDeletes},
		{"UsageRoundTrip", testUsageRoundTrip},
		{"AddUsageTruncatesHours", testAddUsageTruncatesHours},
		{"AddUsageSums", testAddUsageSums},
		{"AddUsageEmpty", testAddUsageEmpty},
		{"AddUsageLarge", testAddUsageLarge},
		{"AddUsageConcurrent", testAddUsageConcurrent},
		{"AddUsageLatency", testAddUsageLatency},
		{"Incidents", testIncidents},
		{"Webhooks", testWebhooks},
		{"APIVersions", testAPIVersions},
		{"AuditLog", testAuditLog},
		{"UsageOutlivesReferences", testUsageOutlivesReferences},
		{"ListUsage", testListUsage},
		{"RequestLogRoundTrip", testRequestLogRoundTrip},
		{"ListRequestLogsFilters", testListRequestLogsFilters},
		{"ListRequestLogsPages", testListRequestLogsPages},
		{"RequestLogsByCorrelator", testRequestLogsByCorrelator},
		{"DeleteRequestLogsBefore", testDeleteRequestLogsBefore},
		{"UserRoundTrip", testUserRoundTrip},
		{"UserDefaults", testUserDefaults},
		{"CreateUserConflict", testCreateUserConflict},
		{"GetUserNotFound", testGetUserNotFound},
		{"ListUsers", testListUsers},
		{"DeleteUser", testDeleteUser},
		{"AuthCodeRoundTrip", testAuthCodeRoundTrip},
		{"CreateAuthCodeErrors", testCreateAuthCodeErrors},
		{"RedeemAuthCode", testRedeemAuthCode},
		{"RedeemAuthCodeConcurrent", testRedeemAuthCodeConcurrent},
		{"RefreshTokenRoundTrip", testRefreshTokenRoundTrip},
		{"CreateRefreshTokenErrors", testCreateRefreshTokenErrors},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"RotateRefreshTokenErrors", testRotateRefreshTokenErrors},
		{"RotateRefreshTokenConcurrent", testRotateRefreshTokenConcurrent},
		{"RotateRefreshTokenFamiliesConcurrent", testRotateRefreshTokenFamiliesConcurrent},
		{"RevokeRefreshFamily", testRevokeRefreshFamily},
		{"RevokeRefreshFamilyConcurrent", testRevokeRefreshFamilyConcurrent},
		{"CIBARequestRoundTrip", testCIBARequestRoundTrip},
		{"CreateCIBARequestErrors", testCreateCIBARequestErrors},
		{"UpdateCIBARequest", testUpdateCIBARequest},
		{"UpdateCIBARequestErrors", testUpdateCIBARequestErrors},
		{"UpdateCIBARequestConcurrent", testUpdateCIBARequestConcurrent},
		{"ListPendingCIBARequests", testListPendingCIBARequests},
		{"GrantsCascade", testGrantsCascade},
		{"DeleteExpiredGrants", testDeleteExpiredGrants},
		{"DeveloperRoundTrip", testDeveloperRoundTrip},
		{"DeveloperDefaults", testDeveloperDefaults},
		{"DeveloperEmailCase", testDeveloperEmailCase},
		{"CreateDeveloperConflict", testCreateDeveloperConflict},
		{"GetDeveloperNotFound", testGetDeveloperNotFound},
		{"ListDevelopers", testListDevelopers},
		{"UpdateDeveloper", testUpdateDeveloper},
		{"UpdateDeveloperErrors", testUpdateDeveloperErrors},
		{"UpdateDeveloperConcurrent", testUpdateDeveloperConcurrent},
		{"DeleteDeveloper", testDeleteDeveloper},
		{"OrganizationRoundTrip", testOrganizationRoundTrip},
		{"CreateOrganizationErrors", testCreateOrganizationErrors},
		{"ListOrganizations", testListOrganizations},
		{"UpdateOrganization", testUpdateOrganization},
		{"UpdateOrganizationErrors", testUpdateOrganizationErrors},
		{"UpdateOrganizationConcurrent", testUpdateOrganizationConcurrent},
		{"Members", testMembers},
		{"MemberErrors", testMemberErrors},
		{"ListMembersOrder", testListMembersOrder},
		{"Invitations", testInvitations},
		{"CreateInvitationErrors", testCreateInvitationErrors},
		{"AcceptInvitation", testAcceptInvitation},
		{"AcceptInvitationErrors", testAcceptInvitationErrors},
		{"AcceptInvitationConcurrent", testAcceptInvitationConcurrent},
		{"AppRoundTrip", testAppRoundTrip},
		{"CreateAppErrors", testCreateAppErrors},
		{"UpdateApp", testUpdateApp},
		{"UpdateAppErrors", testUpdateAppErrors},
		{"UpdateAppConcurrent", testUpdateAppConcurrent},
		{"AppClients", testAppClients},
		{"AppClientErrors", testAppClientErrors},
		{"RecordClientUse", testRecordClientUse},
		{"RecordClientUseConcurrent", testRecordClientUseConcurrent},
		{"DeleteApp", testDeleteApp},
		{"DeleteAppConcurrent", testDeleteAppConcurrent},
		{"DeleteOrganization", testDeleteOrganization},
		{"CanceledContext", testCanceledContext},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.test(t, s)
		})
	}
}

// cet is a non-UTC zone: times stored in it must come back in UTC.
var cet = time.FixedZone("CET", 3600)

// at returns a millisecond-precision time, value minutes after a fixed
// instant, in a non-UTC zone.
func at(minutes int) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, cet).Add(time.Duration(minutes) * time.Minute)
}

// fullClient returns a client with every field set.
func fullClient(id string) *store.Client {
	return &store.Client{
		ID:                      id,
		Name:                    "Client " + id,
		SecretHash:              []byte{0x00, 0x01, 0xfe, 0xff, 0x80},
		PreviousSecretHash:      bytes.Repeat([]byte{0xab}, 32),
		PreviousSecretExpiresAt: at(60),
		GrantTypes:              []string{"client_credentials", "authorization_code", "urn:openid:params:grant-type:ciba"},
		Scopes:                  []string{"openid", "sim-swap:check", "number-verification:verify"},
		RedirectURIs:            []string{"https://app.example.com/cb?x=1&y=2", "http://127.0.0.1:8080/callback"},
		TokenEndpointAuthMethod: "private_key_jwt",
		JWKS:                    `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`,
		Status:                  store.ClientActive,
		LastUsedAt:              at(-60),
		CreatedAt:               at(0),
		UpdatedAt:               at(1),
	}
}

func mustCreateClient(t *testing.T, s store.Store, c *store.Client) {
	t.Helper()
	if err := s.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient(%q): %v", c.ID, err)
	}
}

func mustGetClient(t *testing.T, s store.Store, id string) *store.Client {
	t.Helper()
	c, err := s.GetClient(t.Context(), id)
	if err != nil {
		t.Fatalf("GetClient(%q): %v", id, err)
	}
	return c
}

// checkClient reports every field of got that differs from want under the
// suite's rules.
func checkClient(t *testing.T, got, want *store.Client) {
	t.Helper()
	if got == nil {
		t.Fatalf("client %q: got nil", want.ID)
	}
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "Name", got.Name, want.Name)
	checkBytes(t, "SecretHash", got.SecretHash, want.SecretHash)
	checkBytes(t, "PreviousSecretHash", got.PreviousSecretHash, want.PreviousSecretHash)
	checkTime(t, "PreviousSecretExpiresAt", got.PreviousSecretExpiresAt, want.PreviousSecretExpiresAt)
	checkList(t, "GrantTypes", got.GrantTypes, want.GrantTypes)
	checkList(t, "Scopes", got.Scopes, want.Scopes)
	checkList(t, "RedirectURIs", got.RedirectURIs, want.RedirectURIs)
	checkString(t, "TokenEndpointAuthMethod", got.TokenEndpointAuthMethod, want.TokenEndpointAuthMethod)
	checkString(t, "JWKS", got.JWKS, want.JWKS)
	checkString(t, "Status", got.Status, want.Status)
	checkString(t, "AppID", got.AppID, want.AppID)
	checkString(t, "Environment", got.Environment, want.Environment)
	checkTime(t, "LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func checkString(t *testing.T, field, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q; want %q", field, got, want)
	}
}

// checkBytes requires equal contents, and nil when want is empty.
func checkBytes(t *testing.T, field string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %x; want %x", field, got, want)
	}
	if len(want) == 0 && got != nil {
		t.Errorf("%s = %#v; want nil for an empty value", field, got)
	}
}

// checkList requires equal elements in order, and nil when want is empty.
func checkList(t *testing.T, field string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q; want %q", field, got, want)
	}
	if len(want) == 0 && got != nil {
		t.Errorf("%s = %#v; want nil for an empty list", field, got)
	}
}

// checkTime requires the same instant at millisecond precision, in UTC,
// and the zero time for the zero time.
func checkTime(t *testing.T, field string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s = %v; want the zero time", field, got)
		}
		return
	}
	if !got.Truncate(time.Millisecond).Equal(want.Truncate(time.Millisecond)) {
		t.Errorf("%s = %v; want %v", field, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v; want UTC", field, got.Location())
	}
}

// checkNow requires got to be a time between before and after (taken
// around the call that set it), allowing for truncation to milliseconds.
func checkNow(t *testing.T, field string, got, before, after time.Time) {
	t.Helper()
	if got.Before(before.Truncate(time.Millisecond)) || got.After(after) {
		t.Errorf("%s = %v; want the current time, between %v and %v", field, got, before, after)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v; want UTC", field, got.Location())
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testClientRoundTrip(t *testing.T, s store.Store) {
	want := fullClient("app-1")
	sent := *want
	mustCreateClient(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) || !sent.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreateClient changed explicit timestamps to %v, %v; want %v, %v",
			sent.CreatedAt, sent.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	checkClient(t, mustGetClient(t, s, "app-1"), want)
}

func testClientEmptyValues(t *testing.T, s store.Store) {
	for _, c := range []*store.Client{
		{ID: "nil-values"},
		{
			ID:                 "empty-values",
			SecretHash:         []byte{},
			PreviousSecretHash: []byte{},
			GrantTypes:         []string{},
			Scopes:             []string{},
			RedirectURIs:       []string{},
		},
	} {
		t.Run(c.ID, func(t *testing.T) {
			before := time.Now()
			if err := s.CreateClient(t.Context(), c); err != nil {
				t.Fatalf("CreateClient: %v", err)
			}
			after := time.Now()
			checkNow(t, "CreateClient set CreatedAt", c.CreatedAt, before, after)
			if !c.UpdatedAt.Equal(c.CreatedAt) {
				t.Errorf("CreateClient set UpdatedAt = %v; want CreatedAt %v", c.UpdatedAt, c.CreatedAt)
			}
			got := mustGetClient(t, s, c.ID)
			checkClient(t, got, &store.Client{ID: c.ID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt})
			if !got.CreatedAt.Equal(c.CreatedAt) {
				t.Errorf("stored CreatedAt = %v; want %v as written back", got.CreatedAt, c.CreatedAt)
			}
		})
	}
}

func testClientTimePrecision(t *testing.T, s store.Store) {
	exact := time.Date(2031, 12, 31, 23, 59, 59, 123_456_789, cet)
	c := fullClient("precise")
	c.PreviousSecretExpiresAt = exact
	c.LastUsedAt = exact
	c.CreatedAt = exact
	c.UpdatedAt = exact
	mustCreateClient(t, s, c)
	got := mustGetClient(t, s, c.ID)
	for field, v := range map[string]time.Time{
		"PreviousSecretExpiresAt": got.PreviousSecretExpiresAt,
		"LastUsedAt":              got.LastUsedAt,
		"CreatedAt":               got.CreatedAt,
		"UpdatedAt":               got.UpdatedAt,
	} {
		if d := v.Sub(exact).Abs(); d >= time.Millisecond {
			t.Errorf("%s = %v; want within 1ms of %v (off by %v)", field, v, exact, d)
		}
		if v.Location() != time.UTC {
			t.Errorf("%s location = %v; want UTC", field, v.Location())
		}
	}
}

func testClientListEncoding(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		list []string
	}{
		{"one", []string{"openid"}},
		{"empty string", []string{""}},
		{"empty strings", []string{"", ""}},
		{"separator inside", []string{`a","b`, `","`}},
		{"quotes and backslashes", []string{`"`, `\`, `\"`, `say "hi"`, `C:\path\`}},
		{"brackets and commas", []string{"[", "]", ",", `["x"]`, "a,b"}},
		{"html", []string{"https://x.example/cb?a=1&b=<2>"}},
		{"control characters", []string{"tab\there", "line\nbreak", "\x00nul"}},
		{"unicode", []string{"ünïcödé", "日本語", "emoji 🔑", "\u2028"}},
		{"whitespace", []string{" leading", "trailing ", "  "}},
		{"many", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &store.Client{
				ID:           fmt.Sprintf("list-%d", i),
				GrantTypes:   tt.list,
				Scopes:       slices.Clone(tt.list),
				RedirectURIs: slices.Clone(tt.list),
			}
			mustCreateClient(t, s, c)
			got := mustGetClient(t, s, c.ID)
			checkList(t, "GrantTypes", got.GrantTypes, tt.list)
			checkList(t, "Scopes", got.Scopes, tt.list)
			checkList(t, "RedirectURIs", got.RedirectURIs, tt.list)
		})
	}
}

func testCreateClientConflict(t *testing.T, s store.Store) {
	want := fullClient("dup")
	mustCreateClient(t, s, want)
	other := fullClient("dup")
	other.Name = "Impostor"
	err := s.CreateClient(t.Context(), other)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreateClient: got %v; want an error wrapping store.ErrConflict", err)
	}
	checkClient(t, mustGetClient(t, s, "dup"), want)
}

func testGetClientNotFound(t *testing.T, s store.Store) {
	mustCreateClient(t, s, fullClient("exists"))
	for _, id := range []string{"missing", "", "EXISTS", "exists "} {
		c, err := s.GetClient(t.Context(), id)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetClient(%q): got (%v, %v); want an error wrapping store.ErrNotFound", id, c, err)
		}
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
			t.Errorf("GetClient(%q): error %v also wraps another sentinel", id, err)
		}
	}
}

func testListClients(t *testing.T, s store.Store) {
	got, err := s.ListClients(t.Context())
	if err != nil {
		t.Fatalf("ListClients on an empty store: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("ListClients on an empty store: got %d clients; want 0", len(got))
	}
	want := map[string]*store.Client{}
	for i, id := range []string{"c", "a", "b"} {
		c := fullClient(id)
		c.CreatedAt = at(i)
		want[id] = c
		mustCreateClient(t, s, c)
	}
	got, err = s.ListClients(t.Context())
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("ListClients: got %d clients; want %d", len(got), len(want))
	}
	for _, c := range got {
		w, ok := want[c.ID]
		if !ok {
			t.Errorf("ListClients: unexpected client %q", c.ID)
			continue
		}
		delete(want, c.ID)
		checkClient(t, c, w)
	}
}

func testUpdateClient(t *testing.T, s store.Store) {
	orig := fullClient("upd")
	mustCreateClient(t, s, orig)

	want := fullClient("upd")
	want.Name = "Renamed"
	want.SecretHash = []byte("new digest")
	want.PreviousSecretHash = orig.SecretHash
	want.PreviousSecretExpiresAt = at(120)
	want.GrantTypes = nil
	want.Scopes = append(want.Scopes, "device-location:read")
	want.RedirectURIs = []string{}
	want.TokenEndpointAuthMethod = "client_secret_basic"
	want.JWKS = ""
	want.Status = store.ClientSuspended

	before := time.Now()
	var called int
	got, err := s.UpdateClient(t.Context(), "upd", func(c *store.Client) error {
		called++
		checkClient(t, c, orig) // update sees the stored client
		c.Name = want.Name
		c.SecretHash, c.PreviousSecretHash = want.SecretHash, c.SecretHash
		c.PreviousSecretExpiresAt = want.PreviousSecretExpiresAt
		c.GrantTypes = want.GrantTypes
		c.Scopes = append(c.Scopes, "device-location:read")
		c.RedirectURIs = want.RedirectURIs
		c.TokenEndpointAuthMethod = want.TokenEndpointAuthMethod
		c.JWKS = want.JWKS
		c.Status = want.Status
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	if called != 1 {
		t.Errorf("update called %d times; want 1", called)
	}
	checkNow(t, "UpdatedAt", got.UpdatedAt, before, after)
	want.UpdatedAt = got.UpdatedAt
	checkClient(t, got, want)

	stored := mustGetClient(t, s, "upd")
	checkClient(t, stored, want)
	if !stored.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("stored UpdatedAt = %v; want %v as returned by UpdateClient", stored.UpdatedAt, got.UpdatedAt)
	}
	if !stored.PreviousSecretExpiresAt.Equal(got.PreviousSecretExpiresAt) {
		t.Errorf("stored PreviousSecretExpiresAt = %v; want %v as returned by UpdateClient",
			stored.PreviousSecretExpiresAt, got.PreviousSecretExpiresAt)
	}
}

func testUpdateClientNotFound(t *testing.T, s store.Store) {
	called := false
	_, err := s.UpdateClient(t.Context(), "missing", func(c *store.Client) error {
		called = true
		return nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient(missing): got %v; want an error wrapping store.ErrNotFound", err)
	}
	if called {
		t.Errorf("UpdateClient(missing) called update")
	}
}

func testUpdateClientAbort(t *testing.T, s store.Store) {
	want := fullClient("abort")
	mustCreateClient(t, s, want)
	errAbort := errors.New("abort the update")
	got, err := s.UpdateClient(t.Context(), "abort", func(c *store.Client) error {
		c.Name = "changed"
		c.Scopes = append(c.Scopes, "extra")
		c.Status = store.ClientSuspended
		return fmt.Errorf("validating: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Errorf("UpdateClient: got %v; want the update function's error", err)
	}
	if got != nil {
		t.Errorf("UpdateClient returned client %+v with an error", got)
	}
	checkClient(t, mustGetClient(t, s, "abort"), want)
}

func testUpdateClientConcurrent(t *testing.T, s store.Store) {
	mustCreateClient(t, s, &store.Client{ID: "busy", Scopes: []string{"openid"}})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateClient(t.Context(), "busy", func(c *store.Client) error {
				c.Scopes = append(c.Scopes, fmt.Sprintf("scope-%02d", i))
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdateClient: %v", err)
		}
	}
	got := mustGetClient(t, s, "busy")
	want := []string{"openid"}
	for i := range n {
		want = append(want, fmt.Sprintf("scope-%02d", i))
	}
	scopes := slices.Clone(got.Scopes)
	sort.Strings(scopes[1:])
	if !slices.Equal(scopes, want) {
		t.Errorf("after %d concurrent appends, Scopes = %q; want %q (lost updates)", n, got.Scopes, want)
	}
}

func testDeleteClient(t *testing.T, s store.Store) {
	mustCreateClient(t, s, fullClient("doomed"))
	mustCreateClient(t, s, fullClient("kept"))
	if err := s.DeleteClient(t.Context(), "doomed"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := s.GetClient(t.Context(), "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after DeleteClient: got %v; want store.ErrNotFound", err)
	}
	if err := s.DeleteClient(t.Context(), "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteClient: got %v; want store.ErrNotFound", err)
	}
	checkClient(t, mustGetClient(t, s, "kept"), fullClient("kept"))
	// The ID can be used again.
	mustCreateClient(t, s, fullClient("doomed"))
}

// key returns a signing key created at the given minute.
func key(id string, minutes int) *store.SigningKey {
	return &store.SigningKey{
		ID:         id,
		Algorithm:  "ES256",
		PrivateKey: []byte("encrypted private key " + id + "\x00\xff"),
		PublicJWK:  []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `"}`),
		CreatedAt:  at(minutes),
	}
}

func listKeys(t *testing.T, s store.Store) []*store.SigningKey {
	t.Helper()
	ks, err := s.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	return ks
}

func checkKey(t *testing.T, got, want *store.SigningKey) {
	t.Helper()
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "Algorithm", got.Algorithm, want.Algorithm)
	checkBytes(t, "PrivateKey", got.PrivateKey, want.PrivateKey)
	checkBytes(t, "PublicJWK", got.PublicJWK, want.PublicJWK)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "RetiredAt", got.RetiredAt, want.RetiredAt)
}

func checkKeys(t *testing.T, got, want []*store.SigningKey) {
	t.Helper()
	ids := func(ks []*store.SigningKey) []string {
		var s []string
		for _, k := range ks {
			s = append(s, k.ID)
		}
		return s
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("ListSigningKeys = %q; want %q", ids(got), ids(want))
	}
	for i := range got {
		checkKey(t, got[i], want[i])
	}
}

func testSigningKeyRotation(t *testing.T, s store.Store) {
	if ks := listKeys(t, s); len(ks) != 0 {
		t.Fatalf("ListSigningKeys on an empty store: got %d keys; want 0", len(ks))
	}
	k1, k2, k3 := key("k1", 0), key("k2", 10), key("k3", 20)
	k3.PrivateKey, k3.PublicJWK = nil, []byte{} // empty values read back nil
	for _, k := range []*store.SigningKey{k1, k2, k3} {
		sent := *k
		if err := s.RotateSigningKey(t.Context(), &sent); err != nil {
			t.Fatalf("RotateSigningKey(%s): %v", k.ID, err)
		}
		if !sent.CreatedAt.Equal(k.CreatedAt) {
			t.Errorf("RotateSigningKey changed CreatedAt to %v; want %v", sent.CreatedAt, k.CreatedAt)
		}
	}
	w1, w2, w3 := *k1, *k2, *k3
	w1.RetiredAt = k2.CreatedAt
	w2.RetiredAt = k3.CreatedAt
	checkKeys(t, listKeys(t, s), []*store.SigningKey{&w3, &w2, &w1})
}

func testSigningKeyRotationConflict(t *testing.T, s store.Store) {
	k1, k2 := key("k1", 0), key("k2", 10)
	for _, k := range []*store.SigningKey{k1, k2} {
		if err := s.RotateSigningKey(t.Context(), k); err != nil {
			t.Fatalf("RotateSigningKey(%s): %v", k.ID, err)
		}
	}
	again := key("k1", 20)
	if err := s.RotateSigningKey(t.Context(), again); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("RotateSigningKey to an existing ID: got %v; want store.ErrConflict", err)
	}
	w1 := *k1
	w1.RetiredAt = k2.CreatedAt
	checkKeys(t, listKeys(t, s), []*store.SigningKey{k2, &w1}) // k2 is still current
}

func testSigningKeyRotationConcurrent(t *testing.T, s store.Store) {
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.RotateSigningKey(t.Context(), key(fmt.Sprintf("k%02d", i), i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent RotateSigningKey: %v", err)
		}
	}
	ks := listKeys(t, s)
	if len(ks) != n {
		t.Fatalf("ListSigningKeys: got %d keys; want %d", len(ks), n)
	}
	current := 0
	for _, k := range ks {
		if k.RetiredAt.IsZero() {
			current++
		}
	}
	if current != 1 {
		t.Errorf("after concurrent rotations, %d keys are current; want exactly 1", current)
	}
}

func testSigningKeyCreatedAtDefault(t *testing.T, s store.Store) {
	for _, id := range []string{"first", "second"} {
		k := &store.SigningKey{ID: id, Algorithm: "ES256"}
		before := time.Now()
		if err := s.RotateSigningKey(t.Context(), k); err != nil {
			t.Fatalf("RotateSigningKey(%s): %v", id, err)
		}
		checkNow(t, "RotateSigningKey set CreatedAt", k.CreatedAt, before, time.Now())
	}
	// Keys made in the same millisecond still list newest first.
	ks := listKeys(t, s)
	if len(ks) != 2 || ks[0].ID != "second" || ks[1].ID != "first" {
		t.Fatalf("ListSigningKeys = %v; want second, first", ks)
	}
	if !ks[0].RetiredAt.IsZero() {
		t.Errorf("current key RetiredAt = %v; want zero", ks[0].RetiredAt)
	}
	if !ks[1].RetiredAt.Equal(ks[0].CreatedAt) {
		t.Errorf("retired key RetiredAt = %v; want the new key's CreatedAt %v", ks[1].RetiredAt, ks[0].CreatedAt)
	}
}

func testDeleteSigningKeysRetiredBefore(t *testing.T, s store.Store) {
	k1, k2, k3 := key("k1", 0), key("k2", 10), key("k3", 20)
	for _, k := range []*store.SigningKey{k1, k2, k3} {
		if err := s.RotateSigningKey(t.Context(), k); err != nil {
			t.Fatalf("RotateSigningKey(%s): %v", k.ID, err)
		}
	}
	// k1 retired at 10, k2 at 20; k3 is current.
	if err := s.DeleteSigningKeysRetiredBefore(t.Context(), at(20)); err != nil {
		t.Fatalf("DeleteSigningKeysRetiredBefore: %v", err)
	}
	w2 := *k2
	w2.RetiredAt = k3.CreatedAt
	checkKeys(t, listKeys(t, s), []*store.SigningKey{k3, &w2})

	if err := s.DeleteSigningKeysRetiredBefore(t.Context(), at(1_000_000)); err != nil {
		t.Fatalf("DeleteSigningKeysRetiredBefore: %v", err)
	}
	checkKeys(t, listKeys(t, s), []*store.SigningKey{k3}) // the current key is never pruned
}

func listRevoked(t *testing.T, s store.Store, since time.Time) []*store.RevokedToken {
	t.Helper()
	ts, err := s.ListRevokedTokensSince(t.Context(), since)
	if err != nil {
		t.Fatalf("ListRevokedTokensSince(%v): %v", since, err)
	}
	return ts
}

func checkRevoked(t *testing.T, got, want []*store.RevokedToken) {
	t.Helper()
	ids := func(ts []*store.RevokedToken) []string {
		var s []string
		for _, tok := range ts {
			s = append(s, tok.ID)
		}
		return s
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("revoked tokens = %q; want %q", ids(got), ids(want))
	}
	for i := range got {
		checkString(t, "ClientID", got[i].ClientID, want[i].ClientID)
		checkTime(t, "ExpiresAt", got[i].ExpiresAt, want[i].ExpiresAt)
		checkTime(t, "RevokedAt", got[i].RevokedAt, want[i].RevokedAt)
	}
}

func testRevokeToken(t *testing.T, s store.Store) {
	if ts := listRevoked(t, s, time.Time{}); len(ts) != 0 {
		t.Fatalf("ListRevokedTokensSince on an empty store: got %d; want 0", len(ts))
	}
	tok := &store.RevokedToken{ID: "jti-1", ClientID: "app-1", ExpiresAt: at(60), RevokedAt: at(0)}
	sent := *tok
	if err := s.RevokeToken(t.Context(), &sent); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	again := *tok
	again.RevokedAt = at(5)
	if err := s.RevokeToken(t.Context(), &again); err != nil {
		t.Fatalf("revoking twice: %v; want no error", err)
	}
	checkRevoked(t, listRevoked(t, s, time.Time{}), []*store.RevokedToken{tok})

	// A zero RevokedAt is the current time; a zero ExpiresAt stays zero.
	now := &store.RevokedToken{ID: "jti-2", ClientID: "app-2"}
	before := time.Now()
	if err := s.RevokeToken(t.Context(), now); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	checkNow(t, "RevokeToken set RevokedAt", now.RevokedAt, before, time.Now())
	checkRevoked(t, listRevoked(t, s, now.RevokedAt), []*store.RevokedToken{now})
}

func testListRevokedTokensSince(t *testing.T, s store.Store) {
	var all []*store.RevokedToken
	for i, id := range []string{"c", "a", "b", "d"} { // revoked in this order
		tok := &store.RevokedToken{ID: id, ClientID: "app", ExpiresAt: at(100 + i), RevokedAt: at(i)}
		all = append(all, tok)
	}
	for _, i := range []int{3, 1, 0, 2} { // recorded in another
		if err := s.RevokeToken(t.Context(), all[i]); err != nil {
			t.Fatalf("RevokeToken(%s): %v", all[i].ID, err)
		}
	}
	tests := []struct {
		name  string
		since time.Time
		want  []*store.RevokedToken
	}{
		{"zero", time.Time{}, all},
		{"first", at(0), all},
		{"exactly the second", at(1), all[1:]},
		{"between", at(1).Add(30 * time.Second), all[2:]},
		{"last", at(3), all[3:]},
		{"after", at(4), nil},
		{"in UTC", at(2).UTC(), all[2:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRevoked(t, listRevoked(t, s, tt.since), tt.want)
		})
	}
}

func testUseAssertionID(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if err := s.UseAssertionID(ctx, "app-1", "jti-1", exp); err != nil {
		t.Fatalf("first UseAssertionID: %v", err)
	}
	err := s.UseAssertionID(ctx, "app-1", "jti-1", exp)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("replayed UseAssertionID: got %v; want store.ErrConflict", err)
	}
	if err := s.UseAssertionID(ctx, "app-2", "jti-1", exp); err != nil {
		t.Errorf("same jti for another client: %v; want no error", err)
	}
	if err := s.UseAssertionID(ctx, "app-1", "jti-2", exp); err != nil {
		t.Errorf("another jti for the same client: %v; want no error", err)
	}
	// A zero expiry never expires.
	if err := s.UseAssertionID(ctx, "app-1", "forever", time.Time{}); err != nil {
		t.Fatalf("UseAssertionID without expiry: %v", err)
	}
	if err := s.UseAssertionID(ctx, "app-1", "forever", time.Time{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("replayed UseAssertionID without expiry: got %v; want store.ErrConflict", err)
	}
}

func testUseAssertionIDExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	past := time.Now().Add(-time.Minute)
	if err := s.UseAssertionID(ctx, "app", "old", past); err != nil {
		t.Fatalf("UseAssertionID: %v", err)
	}
	// The record has expired, so the id may be used again, and the new
	// expiry then holds.
	future := time.Now().Add(time.Hour)
	if err := s.UseAssertionID(ctx, "app", "old", future); err != nil {
		t.Fatalf("UseAssertionID of an expired id: %v; want no error", err)
	}
	if err := s.UseAssertionID(ctx, "app", "old", future); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UseAssertionID after renewal: got %v; want store.ErrConflict", err)
	}
}

func testUseAssertionIDConcurrent(t *testing.T, s store.Store) {
	const n = 20
	exp := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- s.UseAssertionID(t.Context(), "app", "raced", exp)
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("concurrent UseAssertionID: got %v; want nil or store.ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses of one assertion id succeeded; want exactly 1", ok, n)
	}
}

func testDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	cut := now.Add(2 * time.Hour) // the "now" given to DeleteExpired
	toks := []*store.RevokedToken{
		{ID: "expired", ClientID: "app", ExpiresAt: cut.Add(-time.Minute), RevokedAt: at(0)},
		{ID: "live", ClientID: "app", ExpiresAt: cut.Add(time.Minute), RevokedAt: at(1)},
		{ID: "forever", ClientID: "app", RevokedAt: at(2)},
	}
	for _, tok := range toks {
		if err := s.RevokeToken(ctx, tok); err != nil {
			t.Fatalf("RevokeToken(%s): %v", tok.ID, err)
		}
	}
	// Both assertion ids are live by the store's clock.
	if err := s.UseAssertionID(ctx, "app", "expiring", cut.Add(-time.Minute)); err != nil {
		t.Fatalf("UseAssertionID: %v", err)
	}
	if err := s.UseAssertionID(ctx, "app", "lasting", cut.Add(time.Minute)); err != nil {
		t.Fatalf("UseAssertionID: %v", err)
	}

	if err := s.DeleteExpired(ctx, cut); err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	checkRevoked(t, listRevoked(t, s, time.Time{}), toks[1:])
	// The deleted id can be used again; the kept one still conflicts.
	if err := s.UseAssertionID(ctx, "app", "expiring", cut.Add(-time.Minute)); err != nil {
		t.Errorf("UseAssertionID after DeleteExpired removed it: %v; want no error", err)
	}
	if err := s.UseAssertionID(ctx, "app", "lasting", cut.Add(time.Minute)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UseAssertionID of an id DeleteExpired kept: got %v; want store.ErrConflict", err)
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	mustCreateClient(t, s, fullClient("present"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, id := range []string{"present", "missing"} {
		if _, err := s.GetClient(ctx, id); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetClient(%q) with a cancelled context: got %v; want an error that is not store.ErrNotFound", id, err)
		}
	}
	if _, err := s.UpdateClient(ctx, "present", func(*store.Client) error { return nil }); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient with a cancelled context: got %v; want an error that is not store.ErrNotFound", err)
	}
	checkClient(t, mustGetClient(t, s, "present"), fullClient("present"))
	checkAPIsCanceled(t, s)
	checkAccessCanceled(t, s)
	checkGrantsCanceled(t, s)
	checkAccountsCanceled(t, s)
}

func testClosed(t *testing.T, s store.Store) {
	mustCreateClient(t, s, fullClient("present"))
	mustCreateAPI(t, s, fullAPI("present"))
	mustCreatePlan(t, s, fullPlan("present"))
	mustCreateSubscription(t, s, subscription("present", "present", "present", "present"))
	usage := []store.UsageRecord{{ClientID: "present", APIName: "present", Hour: hour(0), Status: 200, Count: 1}}
	mustAddUsage(t, s, usage)
	mustCreateUser(t, s, fullUser("present", "present", "+34600000001"))
	mustCreateAuthCode(t, s, fullAuthCode("present", "present", "present"))
	mustCreateRefreshToken(t, s, refreshToken("present", "present", "present", "present"))
	mustCreateCIBARequest(t, s, cibaRequest("present", "present", "present"))
	accountCalls := setupClosedAccounts(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"GetClient", func() error { _, err := s.GetClient(ctx, "present"); return err }},
		{"GetClient(missing)", func() error { _, err := s.GetClient(ctx, "missing"); return err }},
		{"CreateClient", func() error { return s.CreateClient(ctx, fullClient("new")) }},
		{"ListClients", func() error { _, err := s.ListClients(ctx); return err }},
		{"UpdateClient", func() error {
			_, err := s.UpdateClient(ctx, "present", func(*store.Client) error { return nil })
			return err
		}},
		{"DeleteClient", func() error { return s.DeleteClient(ctx, "present") }},
		{"CreateAPI", func() error { return s.CreateAPI(ctx, fullAPI("new")) }},
		{"GetAPI", func() error { _, err := s.GetAPI(ctx, "present"); return err }},
		{"GetAPI(missing)", func() error { _, err := s.GetAPI(ctx, "missing"); return err }},
		{"ListAPIs", func() error { _, err := s.ListAPIs(ctx); return err }},
		{"UpdateAPI", func() error {
			_, err := s.UpdateAPI(ctx, "present", func(*store.API) error { return nil })
			return err
		}},
		{"DeleteAPI", func() error { return s.DeleteAPI(ctx, "present") }},
		{"DeleteAPI(missing)", func() error { return s.DeleteAPI(ctx, "missing") }},
		{"APIsGeneration", func() error { _, err := s.APIsGeneration(ctx); return err }},
		{"CreatePlan", func() error { return s.CreatePlan(ctx, fullPlan("new")) }},
		{"GetPlan", func() error { _, err := s.GetPlan(ctx, "present"); return err }},
		{"GetPlan(missing)", func() error { _, err := s.GetPlan(ctx, "missing"); return err }},
		{"ListPlans", func() error { _, err := s.ListPlans(ctx); return err }},
		{"UpdatePlan", func() error {
			_, err := s.UpdatePlan(ctx, "present", func(*store.Plan) error { return nil })
			return err
		}},
		{"DeletePlan", func() error { return s.DeletePlan(ctx, "present") }},
		{"DeletePlan(missing)", func() error { return s.DeletePlan(ctx, "missing") }},
		{"CreateSubscription", func() error {
			return s.CreateSubscription(ctx, subscription("new", "present", "present", "present"))
		}},
		{"GetSubscription", func() error { _, err := s.GetSubscription(ctx, "present"); return err }},
		{"GetSubscription(missing)", func() error { _, err := s.GetSubscription(ctx, "missing"); return err }},
		{"FindSubscription", func() error { _, err := s.FindSubscription(ctx, "present", "present"); return err }},
		{"FindSubscription(missing)", func() error { _, err := s.FindSubscription(ctx, "missing", "present"); return err }},
		{"ListSubscriptions", func() error {
			_, err := s.ListSubscriptions(ctx, store.SubscriptionFilter{ClientID: "present"})
			return err
		}},
		{"UpdateSubscription", func() error {
			_, err := s.UpdateSubscription(ctx, "present", func(*store.Subscription) error { return nil })
			return err
		}},
		{"DeleteSubscription", func() error { return s.DeleteSubscription(ctx, "present") }},
		{"DeleteSubscription(missing)", func() error { return s.DeleteSubscription(ctx, "missing") }},
		{"AccessGeneration", func() error { _, err := s.AccessGeneration(ctx); return err }},
		{"PlaceOrder", func() error {
			_, err := s.PlaceOrder(ctx, fullOrder("new", "present"), func(cur *store.Subscription, _ *store.Order) (*store.Subscription, error) {
				return cur, nil
			})
			return err
		}},
		{"ListOrders", func() error { _, err := s.ListOrders(ctx, store.OrderFilter{}); return err }},
		{"AddUsage", func() error { return s.AddUsage(ctx, usage) }},
		{"ListUsage", func() error { _, err := s.ListUsage(ctx, store.UsageFilter{}); return err }},
		{"AddRequestLogs", func() error { return s.AddRequestLogs(ctx, []store.RequestLog{logAt("o", "a", "c", 0, 200)}) }},
		{"ListRequestLogs", func() error { _, err := s.ListRequestLogs(ctx, store.RequestLogFilter{}); return err }},
		{"RequestLogsByCorrelator", func() error { _, err := s.RequestLogsByCorrelator(ctx, "o", "c", 1); return err }},
		{"DeleteRequestLogsBefore", func() error { _, err := s.DeleteRequestLogsBefore(ctx, at(1), 1); return err }},
		{"RotateSigningKey", func() error { return s.RotateSigningKey(ctx, key("k", 0)) }},
		{"ListSigningKeys", func() error { _, err := s.ListSigningKeys(ctx); return err }},
		{"DeleteSigningKeysRetiredBefore", func() error { return s.DeleteSigningKeysRetiredBefore(ctx, at(0)) }},
		{"RevokeToken", func() error { return s.RevokeToken(ctx, &store.RevokedToken{ID: "x", ClientID: "y"}) }},
		{"ListRevokedTokensSince", func() error { _, err := s.ListRevokedTokensSince(ctx, time.Time{}); return err }},
		{"UseAssertionID", func() error { return s.UseAssertionID(ctx, "a", "b", time.Now().Add(time.Hour)) }},
		{"DeleteExpired", func() error { return s.DeleteExpired(ctx, time.Now()) }},
		{"BeginIdempotent", func() error {
			_, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k", Fingerprint: "f", ExpiresAt: time.Now().Add(time.Hour)})
			return err
		}},
		{"FinishIdempotent", func() error { return s.FinishIdempotent(ctx, "k", 201, nil, []byte("b")) }},
		{"ReleaseIdempotent", func() error { return s.ReleaseIdempotent(ctx, "k") }},
		{"CreateUser", func() error { return s.CreateUser(ctx, fullUser("new", "new", "")) }},
		{"GetUser", func() error { _, err := s.GetUser(ctx, "present"); return err }},
		{"GetUser(missing)", func() error { _, err := s.GetUser(ctx, "missing"); return err }},
		{"GetUserByUsername", func() error { _, err := s.GetUserByUsername(ctx, "present"); return err }},
		{"GetUserByPhone", func() error { _, err := s.GetUserByPhone(ctx, "+34600000001"); return err }},
		{"ListUsers", func() error { _, err := s.ListUsers(ctx); return err }},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, "present") }},
		{"DeleteUser(missing)", func() error { return s.DeleteUser(ctx, "missing") }},
		{"CreateAuthCode", func() error { return s.CreateAuthCode(ctx, fullAuthCode("new", "present", "present")) }},
		{"RedeemAuthCode", func() error { _, err := s.RedeemAuthCode(ctx, digest("present"), at(1)); return err }},
		{"RedeemAuthCode(missing)", func() error { _, err := s.RedeemAuthCode(ctx, "missing", at(1)); return err }},
		{"CreateRefreshToken", func() error {
			return s.CreateRefreshToken(ctx, refreshToken("new", "present", "present", "present"))
		}},
		{"RotateRefreshToken", func() error {
			_, err := s.RotateRefreshToken(ctx, digest("present"), at(1), refreshToken("new", "present", "present", "present"))
			return err
		}},
		{"RotateRefreshToken(missing)", func() error {
			_, err := s.RotateRefreshToken(ctx, "missing", at(1), refreshToken("new", "present", "present", "present"))
			return err
		}},
		{"GetRefreshToken", func() error { _, err := s.GetRefreshToken(ctx, digest("present")); return err }},
		{"GetRefreshToken(missing)", func() error { _, err := s.GetRefreshToken(ctx, "missing"); return err }},
		{"RevokeRefreshFamily", func() error { return s.RevokeRefreshFamily(ctx, "present", at(1)) }},
		{"CreateCIBARequest", func() error { return s.CreateCIBARequest(ctx, cibaRequest("new", "present", "present")) }},
		{"GetCIBARequest", func() error { _, err := s.GetCIBARequest(ctx, "present"); return err }},
		{"GetCIBARequest(missing)", func() error { _, err := s.GetCIBARequest(ctx, "missing"); return err }},
		{"UpdateCIBARequest", func() error {
			_, err := s.UpdateCIBARequest(ctx, "present", func(*store.CIBARequest) error { return nil })
			return err
		}},
		{"ListPendingCIBARequests", func() error { _, err := s.ListPendingCIBARequests(ctx, "present"); return err }},
		{"DeleteExpiredGrants", func() error { return s.DeleteExpiredGrants(ctx, time.Now()) }},
	}
	calls = append(calls, accountCalls(ctx)...)
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s after Close: got %v; want an error wrapping store.ErrUnavailable", c.name, err)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after Close: %v wraps store.ErrNotFound", c.name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v; want nil", err)
	}
}
