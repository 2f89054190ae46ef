package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

// progress draws a one-line bar on stderr when it is a terminal, and
// nothing otherwise, so that scripts and pipes get clean output.
type progress struct {
	total int
	on    bool
}

func newProgress(total int) *progress {
	return &progress{total: total, on: term.IsTerminal(int(os.Stderr.Fd()))}
}

func (p *progress) set(done int) {
	if !p.on || p.total == 0 {
		return
	}
	const width = 30
	filled := done * width / p.total
	fmt.Fprintf(os.Stderr, "\r[%s%s] %d/%d", strings.Repeat("#", filled), strings.Repeat(" ", width-filled), done, p.total)
}

func (p *progress) clear() {
	if p.on {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}
