package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion is what the binary knows of its own build: the module
// version, the VCS commit it was built from, and the Go version.
type buildVersion struct {
	Version string `json:"version"`
	// Commit is the VCS revision, empty when the build did not record it
	// (go test, or -buildvcs=false).
	Commit string `json:"commit,omitempty"`
	// CommitTime is the commit's time (RFC 3339).
	CommitTime string `json:"commit_time,omitempty"`
	// Modified is true when the working tree had uncommitted changes.
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// readBuildVersion reads the version from the build information the Go
// toolchain embeds: "(devel)" for a build inside the repository, the
// module version for go install gatehouse/cmd/gatehouse@vX.
func readBuildVersion() buildVersion {
	v := buildVersion{Version: "(unknown)", Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (c *cli) versionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit the binary was built from, and the Go version",
		Long: `Print the module version, the VCS commit the binary was built from (when the build
recorded it: go build and go install do in a Git checkout) and the Go version.`,
		Example: "  gatehouse version\n  gatehouse version -o json",
		Args:    exactArgs(0, ""),
	}
	out := addOutput(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		v := readBuildVersion()
		if out.is("json") {
			return printJSON(c.stdout, v)
		}
		commit := v.Commit
		switch {
		case commit == "":
			commit = "unknown (not recorded in this build)"
		case v.Modified:
			commit += " (with uncommitted changes)"
		}
		fmt.Fprintf(c.stdout, "gatehouse %s\ncommit: %s\n", v.Version, commit)
		if v.CommitTime != "" {
			fmt.Fprintf(c.stdout, "commit time: %s\n", v.CommitTime)
		}
		fmt.Fprintf(c.stdout, "go: %s\n", v.Go)
		return nil
	}
	return cmd
}
