package portal

import (
	"context"
	"time"

	"gatehouse/internal/apidiff"
)

// An API's changelog (issue 13 §4), generated from the differences
// between the documents it has had (store.APIs.ListAPIVersions), newest
// first, on its page.

// changelogEntry is one version of an API.
type changelogEntry struct {
	Version, Title string
	At             time.Time
	First          bool
	Changes        []apidiff.Change
	Breaking       int
}

type cachedChangelog struct {
	count   int
	last    time.Time
	entries []changelogEntry
}

// changelog returns the API's changelog, computed again only when a
// version was added.
func (p *Portal) changelog(ctx context.Context, name string) ([]changelogEntry, error) {
	versions, err := p.cfg.APIs.ListAPIVersions(ctx, name)
	if err != nil || len(versions) == 0 {
		return nil, err
	}
	last := versions[len(versions)-1].CreatedAt
	p.mu.Lock()
	c, ok := p.changelogs[name]
	p.mu.Unlock()
	if ok && c.count == len(versions) && c.last.Equal(last) {
		return c.entries, nil
	}
	var entries []changelogEntry
	var prev *apidiff.Doc
	for i, v := range versions {
		doc, err := apidiff.Load(v.Document)
		if err != nil {
			continue // a document that no longer loads is left out, not the page
		}
		e := changelogEntry{Version: v.Version, Title: v.Title, At: v.CreatedAt, First: i == 0 || prev == nil}
		if prev != nil {
			e.Changes = apidiff.Diff(prev, doc)
			for _, ch := range e.Changes {
				if ch.Breaking {
					e.Breaking++
				}
			}
		}
		prev = doc
		if e.First || len(e.Changes) > 0 {
			entries = append(entries, e)
		}
	}
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	p.mu.Lock()
	if p.changelogs == nil {
		p.changelogs = map[string]cachedChangelog{}
	}
	p.changelogs[name] = cachedChangelog{count: len(versions), last: last, entries: entries}
	p.mu.Unlock()
	return entries, nil
}
