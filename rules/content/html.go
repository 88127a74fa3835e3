package content

import (
	"bytes"
	"html"
	"strconv"
	"strings"

	"golang.org/x/net/html/atom"
)

// maxHTMLDepth bounds the element stack of renderHTML; deeper elements are
// treated as if they had no end tag of their own.
const maxHTMLDepth = 256

// frame is the rendering state inside one open element. Unknown elements
// (atom 0) get no frame: their attributes apply to nothing.
type frame struct {
	tag    atom.Atom // 0 for the root and for unknown elements
	hidden bool      // display:none, visibility:hidden, tiny font, …
	skip   bool      // not rendered at all (script, style, title)
	fg, bg string    // text and background colour, normalized; "" unknown
}

// htmlResult is an HTML part rendered as text.
type htmlResult struct {
	text      []byte // visible text, white space collapsed
	invisible int    // non-space characters of hidden text
}

// renderHTML renders src as text, as a reader would see it: tags and
// comments removed, entities decoded, inline elements joined without space
// ("V<b>i</b>agra" reads "Viagra"), block elements separated by a space,
// script and style content dropped. Text the reader cannot see is counted
// in invisible and left out of the text. Each link target (href, src,
// action, background) is passed to onURI. The text is cut at max bytes.
func renderHTML(src []byte, max int, onURI func(string)) htmlResult {
	var r htmlResult
	z := &htmlScanner{src: src}
	stack := make([]frame, 1, 16)
	stack[0] = frame{bg: "#ffffff"}
	out := make([]byte, 0, min(len(src)/2, max))
	space := false // a space is due before the next visible text
	for {
		switch z.next() {
		case htmlEOF:
			r.text = out
			return r
		case htmlText:
			top := &stack[len(stack)-1]
			if top.skip {
				continue
			}
			t := z.text
			if bytes.IndexByte(t, '&') >= 0 {
				t = []byte(html.UnescapeString(string(t)))
			}
			if top.hidden || (top.fg != "" && top.fg == top.bg) {
				r.invisible += countNonSpace(t)
				continue
			}
			if len(out) < max {
				out, space = appendCollapsed(out, t, space, max)
			}
		case htmlStart:
			tag := z.tag
			if blockTag(tag) {
				space = true
			}
			if selfClosingAtNext(tag) && stack[len(stack)-1].tag == tag {
				stack = stack[:len(stack)-1] // <p>a<p>b: the second p ends the first
			}
			f := stack[len(stack)-1]
			f.tag = tag
			readAttrs(z, &f, onURI)
			switch tag {
			case atom.Script, atom.Style, atom.Title, atom.Template, atom.Noscript:
				f.skip = true
			}
			if tag != 0 && !voidTag(tag) && len(stack) < maxHTMLDepth {
				stack = append(stack, f)
			}
		case htmlEnd:
			tag := z.tag
			if blockTag(tag) {
				space = true
			}
			for i := len(stack) - 1; i > 0 && tag != 0; i-- {
				if stack[i].tag == tag {
					stack = stack[:i]
					break
				}
			}
		}
	}
}

// countNonSpace counts the characters of t that are not white space.
func countNonSpace(t []byte) int {
	n := 0
	for _, c := range t {
		if c > ' ' && (c < 0x80 || c >= 0xC0) {
			n++
		}
	}
	return n
}

// readAttrs applies an element's attributes to its frame and reports its
// link targets.
func readAttrs(z *htmlScanner, f *frame, onURI func(string)) {
	for {
		k, v, ok := z.attr()
		if !ok {
			return
		}
		switch string(k) {
		case "href", "src", "action", "background":
			if u := linkURI(v); u != "" {
				onURI(u)
			}
		case "hidden":
			f.hidden = true
		case "style":
			applyStyle(f, v)
		case "bgcolor":
			if c := normColor(v); c != "" {
				f.bg = c
			}
		case "color":
			if f.tag == atom.Font {
				if c := normColor(v); c != "" {
					f.fg = c
				}
			}
		case "text":
			if f.tag == atom.Body {
				if c := normColor(v); c != "" {
					f.fg = c
				}
			}
		}
	}
}

// applyStyle applies the inline CSS declarations that hide text or set its
// colours.
func applyStyle(f *frame, style string) {
	for decl := range strings.SplitSeq(style, ";") {
		prop, val, ok := strings.Cut(decl, ":")
		if !ok {
			continue
		}
		prop = strings.ToLower(strings.TrimSpace(prop))
		val = strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(val), "!important")))
		switch prop {
		case "display":
			if val == "none" {
				f.hidden = true
			}
		case "visibility":
			if val == "hidden" || val == "collapse" {
				f.hidden = true
			}
		case "opacity":
			if n, err := strconv.ParseFloat(val, 64); err == nil && n < 0.1 {
				f.hidden = true
			}
		case "font-size":
			if tinyFont(val) {
				f.hidden = true
			}
		case "color":
			if c := normColor(val); c != "" {
				f.fg = c
			}
		case "background-color":
			if c := normColor(val); c != "" {
				f.bg = c
			}
		case "background":
			for _, w := range strings.Fields(val) {
				if c := normColor(w); c != "" {
					f.bg = c
					break
				}
			}
		}
	}
}

// tinyFont reports a CSS font size of at most 1px or 1pt (or 0 in any
// unit).
func tinyFont(v string) bool {
	num := strings.TrimRight(v, "abcdefghijklmnopqrstuvwxyz%")
	unit := v[len(num):]
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return false
	}
	if n <= 0 {
		return true
	}
	return n <= 1 && (unit == "px" || unit == "pt")
}

// namedColor returns the hex form of the colour names spam uses to hide
// text, or "".
func namedColor(name string) string {
	switch name {
	case "white":
		return "#ffffff"
	case "black":
		return "#000000"
	case "red":
		return "#ff0000"
	case "blue":
		return "#0000ff"
	case "yellow":
		return "#ffff00"
	case "silver":
		return "#c0c0c0"
	case "gray", "grey":
		return "#808080"
	case "green":
		return "#008000"
	case "navy":
		return "#000080"
	case "maroon":
		return "#800000"
	case "lime":
		return "#00ff00"
	case "aqua":
		return "#00ffff"
	case "fuchsia":
		return "#ff00ff"
	case "purple":
		return "#800080"
	case "teal":
		return "#008080"
	case "olive":
		return "#808000"
	case "orange":
		return "#ffa500"
	}
	return ""
}

// normColor returns a colour as "#rrggbb", or "" when it is not one it
// knows (names above, #rgb, #rrggbb or rrggbb, rgb(r, g, b)).
func normColor(v string) string {
	v = strings.ToLower(strings.Trim(strings.TrimSpace(v), `"'`))
	if c := namedColor(v); c != "" {
		return c
	}
	if strings.HasPrefix(v, "rgb(") && strings.HasSuffix(v, ")") {
		parts := strings.Split(v[4:len(v)-1], ",")
		if len(parts) != 3 {
			return ""
		}
		b := []byte{'#'}
		for _, p := range parts {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 0 || n > 255 {
				return ""
			}
			b = append(b, "0123456789abcdef"[n>>4], "0123456789abcdef"[n&15])
		}
		return string(b)
	}
	h := strings.TrimPrefix(v, "#")
	for i := 0; i < len(h); i++ {
		if unhex(h[i]) > 15 {
			return ""
		}
	}
	switch len(h) {
	case 3:
		return string([]byte{'#', h[0], h[0], h[1], h[1], h[2], h[2]})
	case 6:
		return "#" + h
	}
	return ""
}

// blockTag reports elements that separate words when rendered.
func blockTag(tag atom.Atom) bool {
	switch tag {
	case atom.Br, atom.P, atom.Div, atom.Tr, atom.Td, atom.Th, atom.Li, atom.Ul, atom.Ol, atom.Table,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Hr, atom.Blockquote, atom.Pre,
		atom.Body, atom.Center, atom.Dd, atom.Dt, atom.Dl, atom.Form, atom.Option, atom.Title, atom.Img:
		return true
	}
	return false
}

// selfClosingAtNext reports elements whose end tag is optional: a start tag
// of the same element ends an open one.
func selfClosingAtNext(tag atom.Atom) bool {
	switch tag {
	case atom.P, atom.Li, atom.Td, atom.Th, atom.Tr, atom.Option, atom.Dt, atom.Dd:
		return true
	}
	return false
}

// voidTag reports elements that have no end tag.
func voidTag(tag atom.Atom) bool {
	switch tag {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input, atom.Link,
		atom.Meta, atom.Param, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}
