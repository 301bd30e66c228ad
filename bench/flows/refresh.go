package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite", for the read-only check
)

// family is one worker's refresh token family, as the worker saw it.
type family struct {
	first, previous, current string
	// rotations counts the refreshes that succeeded.
	rotations int
}

// rotate refreshes with the newest token and keeps the one it returns.
func (f *family) rotate(ctx context.Context, b *browser) error {
	tok, err := b.refresh(ctx, f.current)
	if err != nil {
		return err
	}
	if tok.RefreshToken == "" || tok.RefreshToken == f.current {
		return errors.New("refresh: 200 without a new refresh token")
	}
	f.previous, f.current = f.current, tok.RefreshToken
	f.rotations++
	return nil
}

// refreshCheck is the verdict on refresh rotation.
type refreshCheck struct {
	Database  string `json:"database"`
	Families  int    `json:"families"`
	Rotations int    `json:"rotations"`
	// MinRotations and MaxRotations are per family.
	MinRotations int `json:"min_rotations"`
	MaxRotations int `json:"max_rotations"`
	// LoadErrors are the refreshes that failed under load.
	LoadErrors int `json:"load_errors"`
	// LiveAccepted counts newest tokens accepted once more after the load;
	// RowsChecked families whose rows in the database matched;
	// ReuseRefused rotated tokens refused (refresh_token_reused or
	// refresh_token_revoked), FamilyRevoked live tokens refused after that.
	LiveAccepted  int      `json:"live_accepted"`
	RowsChecked   int      `json:"db_families_ok"`
	ReuseRefused  int      `json:"reuse_refused"`
	FamilyRevoked int      `json:"family_revoked_after_reuse"`
	Failures      []string `json:"failures,omitempty"`
	Pass          bool     `json:"pass"`
}

func (rc *refreshCheck) fail(format string, args ...any) {
	if len(rc.Failures) < 20 {
		rc.Failures = append(rc.Failures, fmt.Sprintf(format, args...))
	} else if len(rc.Failures) == 20 {
		rc.Failures = append(rc.Failures, "… (more failures not shown)")
	}
}

func (rc *refreshCheck) print(asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(rc)
		fmt.Println(string(b))
		return
	}
	verdict := "PASS"
	if !rc.Pass {
		verdict = "FAIL"
	}
	fmt.Printf("refresh rotation check %-8s %s: %d families, %d rotations (%d to %d per family), %d errors under load; "+
		"newest token accepted once more %d/%d; database rows = rotations+1 with one live row, the newest, %d/%d; "+
		"rotated token refused %d/%d and the family revoked %d/%d\n",
		rc.Database, verdict, rc.Families, rc.Rotations, rc.MinRotations, rc.MaxRotations, rc.LoadErrors,
		rc.LiveAccepted, rc.Families, rc.RowsChecked, rc.Families, rc.ReuseRefused, rc.Families, rc.FamilyRevoked, rc.Families)
	for _, f := range rc.Failures {
		fmt.Println("  FAIL:", f)
	}
}

// checkRefresh checks the families after the load: the newest token of each
// is accepted once more (it is the live one); with gatehouse stopped, the
// database holds one row per token the family ever had (rotations+1) and
// one live row, the newest; after a restart, a rotated token is refused and
// its reuse revokes the family (by design: RFC 9700 §4.14.2), so that
// check comes last.
func checkRefresh(ctx context.Context, g *gatehouse, browsers []*browser, fams []*family, load *result, check dbCheck) *refreshCheck {
	rc := &refreshCheck{Families: len(fams)}
	for msg, n := range load.AllErrors {
		rc.LoadErrors += n
		rc.fail("under load, %d × %s", n, msg)
	}
	for i, f := range fams {
		if err := f.rotate(ctx, browsers[i]); err != nil {
			rc.fail("family %d: its newest refresh token was refused after the load: %v", i, err)
			continue
		}
		rc.LiveAccepted++
	}
	rc.MinRotations = fams[0].rotations
	for _, f := range fams {
		rc.Rotations += f.rotations
		rc.MinRotations, rc.MaxRotations = min(rc.MinRotations, f.rotations), max(rc.MaxRotations, f.rotations)
	}

	g.stop()
	rows, err := check.rows(ctx, fams)
	if err != nil {
		rc.fail("reading refresh_tokens: %v", err)
	} else {
		owner := map[string]int{} // family_id → worker
		for i, f := range fams {
			var n, live, revoked int
			liveHash, famID := "", ""
			for _, r := range rows[hashToken(f.first)] {
				n++
				famID = r.family
				if r.revoked {
					revoked++
				}
				if !r.rotated && !r.revoked {
					live++
					liveHash = r.hash
				}
			}
			ok := true
			if j, dup := owner[famID]; dup && famID != "" {
				rc.fail("families %d and %d share family_id %s", j, i, famID)
				ok = false
			}
			owner[famID] = i
			switch {
			case n != f.rotations+1:
				rc.fail("family %d (%s): %d rows, want rotations+1 = %d", i, famID, n, f.rotations+1)
			case live != 1:
				rc.fail("family %d (%s): %d live rows (not rotated, not revoked), want 1", i, famID, live)
			case liveHash != hashToken(f.current):
				rc.fail("family %d (%s): the live row is not the newest token", i, famID)
			case revoked != 0:
				rc.fail("family %d (%s): %d revoked rows, want 0", i, famID, revoked)
			default:
				if ok {
					rc.RowsChecked++
				}
			}
		}
	}

	if err := g.start(ctx); err != nil {
		rc.fail("restarting gatehouse for the reuse check: %v", err)
	} else {
		for i, f := range fams {
			b := browsers[i]
			b.hc.CloseIdleConnections()
			old := f.previous
			if old == "" {
				old = f.first
			}
			_, err := b.refresh(ctx, old)
			var te *tokenError
			if !errors.As(err, &te) || te.Code != "invalid_grant" || (te.Cause != "refresh_token_reused" && te.Cause != "refresh_token_revoked") {
				rc.fail("family %d: a rotated refresh token: %v, want invalid_grant refresh_token_reused", i, err)
				continue
			}
			rc.ReuseRefused++
			_, err = b.refresh(ctx, f.current)
			if !errors.As(err, &te) || te.Code != "invalid_grant" || te.Cause != "refresh_token_revoked" {
				rc.fail("family %d: the newest token after a reuse: %v, want invalid_grant refresh_token_revoked", i, err)
				continue
			}
			rc.FamilyRevoked++
		}
		g.stop()
	}
	rc.Pass = len(rc.Failures) == 0 && rc.LiveAccepted == rc.Families && rc.RowsChecked == rc.Families &&
		rc.ReuseRefused == rc.Families && rc.FamilyRevoked == rc.Families
	return rc
}

// tokenRow is one refresh_tokens row of a checked family.
type tokenRow struct {
	hash, family     string
	rotated, revoked bool
}

// dbCheck reads the refresh_tokens rows of the families, keyed by the hash
// of each family's first token.
type dbCheck struct {
	rows func(ctx context.Context, fams []*family) (map[string][]tokenRow, error)
}

// familyQuery selects the rows of the families whose first tokens are
// given, with the first token's hash. The hashes are hex digests computed
// here, safe to inline.
func familyQuery(table string, fams []*family) string {
	firsts := make([]string, len(fams))
	for i, f := range fams {
		firsts[i] = "'" + hashToken(f.first) + "'"
	}
	return `SELECT f.hash, t.hash, t.family_id, t.rotated_at IS NOT NULL, t.revoked_at IS NOT NULL
		FROM ` + table + ` f JOIN ` + table + ` t ON t.family_id = f.family_id
		WHERE f.hash IN (` + strings.Join(firsts, ",") + `)`
}

// sqliteCheck reads the SQLite file read-only (gatehouse is stopped).
func sqliteCheck(path string) dbCheck {
	return dbCheck{rows: func(ctx context.Context, fams []*family) (map[string][]tokenRow, error) {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			return nil, err
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, familyQuery("refresh_tokens", fams))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string][]tokenRow{}
		for rows.Next() {
			var first string
			var r tokenRow
			if err := rows.Scan(&first, &r.hash, &r.family, &r.rotated, &r.revoked); err != nil {
				return nil, err
			}
			out[first] = append(out[first], r)
		}
		return out, rows.Err()
	}}
}

// postgresCheck reads the run's schema.
func postgresCheck(pg, schema string) dbCheck {
	return dbCheck{rows: func(ctx context.Context, fams []*family) (map[string][]tokenRow, error) {
		conn, err := pgx.Connect(ctx, connURL(pg))
		if err != nil {
			return nil, err
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, familyQuery(pgx.Identifier{schema, "refresh_tokens"}.Sanitize(), fams))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string][]tokenRow{}
		for rows.Next() {
			var first string
			var r tokenRow
			if err := rows.Scan(&first, &r.hash, &r.family, &r.rotated, &r.revoked); err != nil {
				return nil, err
			}
			out[first] = append(out[first], r)
		}
		return out, rows.Err()
	}}
}
