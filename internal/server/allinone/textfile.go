package allinone

import (
	"os"
	"path/filepath"
)

// DefaultTextfileDir is the textfile directory the all-in-one reads when
// --collector.textfile.directory is not given and it exists: a user who
// runs `panoptes` in a directory can drop *.prom files next to it.
const DefaultTextfileDir = "textfile"

// textfileDirs returns the textfile directories to read: dirs when given
// (even as "", which turns the default off), else ./textfile when it is a
// directory, else none (node_exporter's default).
func textfileDirs(dirs []string) []string {
	if len(dirs) > 0 {
		return dirs
	}
	if st, err := os.Stat(DefaultTextfileDir); err == nil && st.IsDir() {
		// Absolute, so that the file label of node_textfile_mtime_seconds
		// names the file unambiguously.
		if abs, err := filepath.Abs(DefaultTextfileDir); err == nil {
			return []string{abs}
		}
		return []string{DefaultTextfileDir}
	}
	return nil
}
