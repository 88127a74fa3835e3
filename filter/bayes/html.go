package bayes

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Token prefixes of HTML.
var (
	pHTML = mkPrefix("html:")
	pAttr = mkPrefix("attr:")
)

// Bounds of the HTML walk.
const (
	maxHTMLDepth  = 64
	maxHTMLTokens = 1 << 16
)

// hframe is the rendering state inside one open element.
type hframe struct {
	tag    atom.Atom
	hidden bool
	fg, bg string
}

// html tokenizes an HTML part: the visible text as body words (inline
// elements and comments join text, block elements separate it), hidden
// text (display:none, tiny fonts, text in the background colour) under
// its own prefix, a token per element name, link and image targets as
// URL tokens, and a few telling attributes.
func (z *tz) html(data []byte, mode textMode) {
	zt := html.NewTokenizer(bytes.NewReader(data))
	vis, hid := z.vis[:0], z.hid[:0]
	stack := make([]hframe, 1, 16)
	stack[0] = hframe{bg: "#ffffff"}
	skip := 0 // inside script or style
	for n := 0; n < maxHTMLTokens && !z.full; n++ {
		tt := zt.Next()
		switch tt {
		case html.ErrorToken:
			n = maxHTMLTokens
		case html.TextToken:
			if skip > 0 {
				continue
			}
			top := &stack[len(stack)-1]
			if top.hidden || (top.fg != "" && top.fg == top.bg) {
				hid = append(append(hid, zt.Text()...), ' ')
			} else {
				vis = append(vis, zt.Text()...)
			}
		case html.CommentToken:
			z.addString(pHTML, "comment")
		case html.DoctypeToken:
			z.addString(pHTML, "doctype")
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := zt.TagName()
			a := atom.Lookup(name)
			if a == 0 {
				z.addString(pHTML, "unknown-tag")
				continue
			}
			z.addString(pHTML, a.String())
			if blockTag(a) {
				vis = append(vis, ' ')
			}
			f := stack[len(stack)-1]
			f.tag = a
			for hasAttr {
				var key, val []byte
				key, val, hasAttr = zt.TagAttr()
				z.htmlAttr(a, string(key), val, &f)
			}
			if tt == html.SelfClosingTagToken || voidTag(a) {
				continue
			}
			if a == atom.Script || a == atom.Style {
				skip++
			}
			if len(stack) < maxHTMLDepth {
				stack = append(stack, f)
			}
		case html.EndTagToken:
			name, _ := zt.TagName()
			a := atom.Lookup(name)
			if (a == atom.Script || a == atom.Style) && skip > 0 {
				skip--
			}
			if blockTag(a) {
				vis = append(vis, ' ')
			}
			for i := len(stack) - 1; i > 0; i-- {
				if stack[i].tag == a {
					stack = stack[:i]
					break
				}
			}
		}
	}
	z.vis, z.hid = vis, hid
	z.text(pBody, vis, mode)
	if len(bytes.TrimSpace(hid)) > 0 {
		z.addString(pHTML, "hidden-text")
		z.text(pHidden, hid, mode)
	}
}

// htmlAttr reads one attribute of element a into tokens and the frame.
func (z *tz) htmlAttr(a atom.Atom, key string, val []byte, f *hframe) {
	switch key {
	case "href", "src", "action", "background":
		z.link(a, key, val)
	case "style":
		s := strings.ToLower(strings.ReplaceAll(string(val), " ", ""))
		if strings.Contains(s, "display:none") || strings.Contains(s, "visibility:hidden") ||
			strings.Contains(s, "font-size:0") || strings.Contains(s, "font-size:1px") {
			f.hidden = true
		}
		if c := styleColor(s, "color:"); c != "" {
			f.fg = c
		}
		if c := styleColor(s, "background-color:"); c != "" {
			f.bg = c
		} else if c := styleColor(s, "background:"); c != "" {
			f.bg = c
		}
	case "hidden":
		f.hidden = true
	case "color":
		f.fg = normColor(string(val))
		z.addString(pAttr, "color="+f.fg)
	case "bgcolor":
		f.bg = normColor(string(val))
	case "size":
		if a == atom.Font {
			v := strings.TrimSpace(string(val))
			z.addString(pAttr, "size="+v)
			if v == "0" || v == "-3" || v == "-4" {
				f.hidden = true
			}
		}
	case "width", "height":
		if a == atom.Img && (string(val) == "1" || string(val) == "0") {
			z.addString(pHTML, "tiny-img")
		}
	case "face":
		z.addString(pAttr, "face="+strings.ToLower(strings.TrimSpace(string(val))))
	default:
		if strings.HasPrefix(key, "on") {
			z.addString(pHTML, "on-event")
		}
	}
}

// link adds the tokens of a link target.
func (z *tz) link(a atom.Atom, key string, val []byte) {
	v := bytes.TrimSpace(val)
	lower := lowerASCII(v[:min(len(v), 16)], &z.word)
	switch {
	case bytes.HasPrefix(lower, []byte("http://")):
		z.urlTokens("http", v[7:])
	case bytes.HasPrefix(lower, []byte("https://")):
		z.urlTokens("https", v[8:])
	case bytes.HasPrefix(lower, []byte("mailto:")):
		z.addString(pHTML, "mailto")
		if at := bytes.LastIndexByte(v, '@'); at >= 0 {
			d := v[at+1:]
			if q := bytes.IndexByte(d, '?'); q >= 0 {
				d = d[:q]
			}
			z.add(pEmail, lowerASCII(d, &z.word))
		}
	case bytes.HasPrefix(lower, []byte("javascript:")):
		z.addString(pHTML, "js-link")
	case bytes.HasPrefix(lower, []byte("cid:")):
		z.addString(pHTML, "cid-"+key)
	default:
		z.addString(pHTML, "relative-"+key)
	}
	if a == atom.Img && key == "src" {
		z.addString(pHTML, "img-src")
	}
}

// styleColor returns the normalized colour after prop in a CSS string.
func styleColor(s, prop string) string {
	i := strings.Index(s, prop)
	if i < 0 || (i > 0 && s[i-1] != ';' && s[i-1] != '"') {
		return ""
	}
	v := s[i+len(prop):]
	if k := strings.IndexByte(v, ';'); k >= 0 {
		v = v[:k]
	}
	return normColor(v)
}

// normColor normalizes a colour: lower case, #rgb → #rrggbb, white and
// black by name.
func normColor(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	switch v {
	case "white":
		return "#ffffff"
	case "black":
		return "#000000"
	}
	if len(v) == 4 && v[0] == '#' {
		return string([]byte{'#', v[1], v[1], v[2], v[2], v[3], v[3]})
	}
	if len(v) == 6 && !strings.HasPrefix(v, "#") && strings.Trim(v, "0123456789abcdef") == "" {
		return "#" + v
	}
	return v
}

// blockTag reports whether the element separates words.
func blockTag(a atom.Atom) bool {
	switch a {
	case atom.Br, atom.P, atom.Div, atom.Td, atom.Th, atom.Tr, atom.Table, atom.Li, atom.Ul, atom.Ol,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Hr, atom.Title, atom.Body,
		atom.Blockquote, atom.Pre, atom.Center, atom.Dd, atom.Dt, atom.Dl, atom.Form, atom.Option,
		atom.Section, atom.Article, atom.Header, atom.Footer, atom.Img, atom.Input, atom.Button, atom.Select:
		return true
	}
	return false
}

// voidTag reports whether the element has no end tag.
func voidTag(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input,
		atom.Link, atom.Meta, atom.Param, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}
