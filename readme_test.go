package errkit_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goBlock is a ```go code block of a Markdown file.
var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

// TestReadmeQuickStartsCompile builds every Go block of README.md (the
// quick starts, one per framework) as a package of its own inside this
// module, so that a quick start that stops compiling fails the build.
func TestReadmeQuickStartsCompile(t *testing.T) {
	md, err := os.ReadFile("README.md")
	require.NoError(t, err)
	blocks := goBlock.FindAllStringSubmatch(string(md), -1)
	require.GreaterOrEqual(t, len(blocks), 3, "a quick start per framework: net/http, echo v4, echo v5")

	dir, err := os.MkdirTemp("internal", "readmecheck-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var pkgs []string
	for i, b := range blocks {
		pkg := filepath.Join(dir, "block"+string(rune('a'+i)))
		require.NoError(t, os.MkdirAll(pkg, 0o755))
		src := "package quickstart\n\n" + b[1]
		if strings.Contains(src, "func newEcho(") || strings.Contains(src, "func newHandler(") {
			src += "\nvar _ = " + map[bool]string{true: "newEcho", false: "newHandler"}[strings.Contains(src, "func newEcho(")] + "\n"
		}
		require.NoError(t, os.WriteFile(filepath.Join(pkg, "quickstart.go"), []byte(src), 0o644))
		pkgs = append(pkgs, "./"+filepath.ToSlash(pkg))
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, append([]string{"vet"}, pkgs...)...).CombinedOutput()
	require.NoError(t, err, "README.md's Go blocks must compile:\n%s", out)
}
