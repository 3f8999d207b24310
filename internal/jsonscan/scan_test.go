package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKindOf(t *testing.T) {
	for c, want := range map[byte]Kind{
		'"': String, '-': Number, '0': Number, '9': Number, 't': Bool, 'f': Bool, 'n': Null, '{': Object, '[': Array,
		'+': Invalid, '.': Invalid, 'T': Invalid, ']': Invalid, '}': Invalid, ',': Invalid, ' ': Invalid, 0: Invalid,
	} {
		if got := KindOf(c); got != want {
			t.Errorf("KindOf(%q) = %d, want %d", c, got, want)
		}
	}
}

// TestValue reads one value and checks its kind, its text and that nothing
// but white space follows.
func TestValue(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		kind     Kind
		text     string
	}{
		// Strings and their escapes.
		{"empty string", `""`, String, ""},
		{"plain string", `"abc"`, String, "abc"},
		{"long plain string", `"` + strings.Repeat("abcdefgh", 9) + `x"`, String, strings.Repeat("abcdefgh", 9) + "x"},
		{"raw UTF-8", `"é世😀"`, String, "é世😀"},
		{"invalid UTF-8 is kept as it is", "\"\xff\xfe\"", String, "\xff\xfe"},
		{"every short escape", `"\"\\\/\b\f\n\r\t"`, String, "\"\\/\b\f\n\r\t"},
		{"escapes between plain text", `"https:\/\/x.example\/a?q=\"b\""`, String, `https://x.example/a?q="b"`},
		{"\\u escapes", `"\u0041\u00e9\u4E16\u0000"`, String, "Aé世\x00"},
		{"surrogate pair", `"\ud83d\ude00"`, String, "😀"},
		{"surrogate pair in upper case", `"\uD83D\uDE00"`, String, "😀"},
		{"lone high surrogate", `"a\ud800b"`, String, "a\uFFFDb"},
		{"lone low surrogate", `"a\udc00b"`, String, "a\uFFFDb"},
		{"high surrogate at the end", `"\ud800"`, String, "\uFFFD"},
		{"high surrogate before a non-surrogate escape", `"\ud800\u0041"`, String, "\uFFFDA"},
		{"high surrogate twice", `"\ud800\ud800\udc00"`, String, "\uFFFD𐀀"},
		{"low before high", `"\udc00\ud800"`, String, "\uFFFD\uFFFD"},
		{"escape at a word boundary", `"1234567\n"`, String, "1234567\n"},
		{"quote at a word boundary", `"12345678"`, String, "12345678"},
		{"control character escaped", `"\u001f"`, String, "\x1f"},
		{"DEL is plain", "\"\x7f\"", String, "\x7f"},

		// Numbers by JSON's grammar.
		{"zero", `0`, Number, "0"},
		{"minus zero", `-0`, Number, "-0"},
		{"integer", `1767268799123`, Number, "1767268799123"},
		{"negative fraction", `-0.5`, Number, "-0.5"},
		{"exponent", `1e5`, Number, "1e5"},
		{"exponent with sign", `2.5E+10`, Number, "2.5E+10"},
		{"negative exponent", `1e-5`, Number, "1e-5"},
		{"beyond float64", `1e400`, Number, "1e400"},
		{"many digits", `123456789012345678901234567890`, Number, "123456789012345678901234567890"},

		// Literals.
		{"true", `true`, Bool, "true"},
		{"false", `false`, Bool, "false"},
		{"null", `null`, Null, ""},

		// Objects and arrays are skipped.
		{"empty object", `{}`, Object, ""},
		{"object", `{"a":[1,{"b":null}],"c":"}"}`, Object, ""},
		{"empty array", `[ ]`, Array, ""},
		{"array", ` [1, "x", true, false, null, {}, []] `, Array, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New([]byte(tc.in))
			kind, text, _ := s.Value(nil)
			if kind != tc.kind || string(text) != tc.text {
				t.Fatalf("Value(%s) = %d %q, want %d %q", tc.in, kind, text, tc.kind, tc.text)
			}
			if !s.AtEnd() || s.Malformed() {
				t.Fatalf("Value(%s): at end %v, malformed %v", tc.in, s.AtEnd(), s.Malformed())
			}
			s = New([]byte(tc.in))
			if !s.Skip() || !s.AtEnd() {
				t.Fatalf("Skip(%s) did not pass over the whole value", tc.in)
			}
		})
	}
}

// TestValueMalformed checks that Value and Skip refuse what is not a JSON
// value, or one followed by something else for a number that stops early.
func TestValueMalformed(t *testing.T) {
	for _, in := range []string{
		``, ` `, `,`, `]`, `}`, `:`,
		// Strings.
		`"abc`, `"`, `"\`, `"\"`, `"a` + "\x00" + `"`, "\"a\tb\"", "\"a\nb\"", "\"\x1f\"", `"\x41"`, `"\'"`, `"\U0041"`,
		`"\u"`, `"\u12"`, `"\u12g4"`, `"\u00e"`, `"\ud800\uzzzz"`, `"\ud800\u12"`, `'a'`,
		// Numbers.
		`+1`, `.5`, `-`, `-a`, `1.`, `1.e5`, `1e`, `1e+`, `1E-`, `0x10`, `-.5`, `NaN`, `Infinity`, `-Infinity`,
		// Literals.
		`tru`, `nul`, `fals`, `True`, `NULL`, `undefined`,
		// Objects and arrays.
		`{`, `[`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{a:1}`, `{"a":1,}`, `{,"a":1}`, `{"a":1 "b":2}`, `[1,]`, `[,1]`, `[1 2]`, `[1}`, `{"a":1]`,
		`[` + "\x00" + `]`, `{"a":1}}`,
	} {
		s := New([]byte(in))
		if kind, _, _ := s.Value(nil); kind != Invalid && s.AtEnd() {
			t.Errorf("Value(%q) = %d, want Invalid", in, kind)
		}
		s = New([]byte(in))
		if s.Skip() && s.AtEnd() {
			t.Errorf("Skip(%q) accepted it", in)
		}
	}
}

// TestNumberStopsAtItsEnd checks that a number is read up to the first byte
// that cannot continue it, which is for the caller to judge.
func TestNumberStopsAtItsEnd(t *testing.T) {
	for in, want := range map[string]string{"01": "0", "1.5.3": "1.5", "-0x": "-0", "1e5e": "1e5", "12,": "12", "7]": "7"} {
		s := New([]byte(in))
		if kind, text, _ := s.Value(nil); kind != Number || string(text) != want || s.AtEnd() {
			t.Errorf("Value(%q) = %d %q, want the number %q and more text", in, kind, text, want)
		}
	}
}

// nest returns n arrays, one inside the other, around inner.
func nest(n int, inner string) string {
	return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
}

func TestDepth(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"MaxDepth+1 arrays: the innermost at depth MaxDepth", nest(MaxDepth+1, ""), true},
		{"a number inside the innermost", nest(MaxDepth+1, "1"), true},
		{"a string inside the innermost", nest(MaxDepth+1, `"x"`), true},
		{"one level too deep", nest(MaxDepth+2, ""), false},
		{"objects count as arrays do", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), true},
		{"objects one level too deep", strings.Repeat(`{"a":`, MaxDepth+2) + "1" + strings.Repeat("}", MaxDepth+2), false},
		{"far too deep", nest(100000, ""), false},
		{"deep but not at once", "[" + strings.Repeat(nest(MaxDepth, "")+",", 100) + "1]", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New([]byte(tc.in))
			if ok := s.Skip() && s.AtEnd(); ok != tc.ok {
				t.Fatalf("Skip: %v, want %v", ok, tc.ok)
			}
			s = New([]byte(tc.in))
			if kind, _, _ := s.Value(nil); (kind != Invalid) != tc.ok {
				t.Fatalf("Value: kind %d, want ok %v", kind, tc.ok)
			}
			// Entered with Open, the depth of what is skipped inside counts.
			s = New([]byte(tc.in))
			if ok := walk(&s) && s.AtEnd(); ok != tc.ok {
				t.Fatalf("walk with Open and Next: %v, want %v", ok, tc.ok)
			}
		})
	}
}

// walk reads the value at the cursor with Open, Next and Key for objects
// and arrays and Value for everything else, reporting whether it is well
// formed.
func walk(s *Scanner) bool {
	switch s.Peek() {
	case '{':
		for more := s.Open(); more; more = s.Next() {
			if _, _, ok := s.Key(nil); !ok || !walk(s) {
				return false
			}
		}
		return !s.Malformed()
	case '[':
		for more := s.Open(); more; more = s.Next() {
			if !walk(s) {
				return false
			}
		}
		return !s.Malformed()
	}
	kind, _, _ := s.Value(nil)
	return kind != Invalid
}

func TestOpenNext(t *testing.T) {
	data := []byte(` { "a" : 1 , "b\u0021" : [ true , null , { } , [ ] ] , "c" : { "d" : "e" } } `)
	s := New(data)
	var got []string
	var dst []byte
	if !s.Open() {
		t.Fatal("Open: empty")
	}
	for more := true; more; more = s.Next() {
		var key []byte
		var ok bool
		if key, dst, ok = s.Key(dst); !ok {
			t.Fatalf("Key at %d", s.pos)
		}
		got = append(got, string(key))
		switch s.Peek() {
		case '[':
			n := 0
			for more := s.Open(); more; more = s.Next() {
				if !s.Skip() {
					t.Fatal("Skip in the array")
				}
				n++
			}
			if n != 4 {
				t.Fatalf("%d elements, want 4", n)
			}
		default:
			if kind, _, _ := s.Value(nil); kind == Invalid {
				t.Fatalf("Value of %s", key)
			}
		}
	}
	if s.Malformed() || !s.AtEnd() {
		t.Fatalf("malformed %v, at end %v", s.Malformed(), s.AtEnd())
	}
	if strings.Join(got, ",") != "a,b!,c" {
		t.Fatalf("keys %q", got)
	}

	for _, in := range []string{`[1}`, `{"a":1]`, `[1 2]`, `{"a":1 "b":2}`, `[1;2]`} {
		s := New([]byte(in))
		for more := s.Open(); more; more = s.Next() {
			if s.Peek() == '"' {
				s.Key(nil)
			}
			s.Value(nil)
		}
		if !s.Malformed() {
			t.Errorf("%s: not malformed", in)
		}
	}
	s = New([]byte(`1,2`))
	s.Value(nil)
	if s.Next() || !s.Malformed() {
		t.Error("Next outside any object or array must be malformed")
	}
	s = New([]byte(`1`))
	if s.Open() || !s.Malformed() {
		t.Error("Open of a number must be malformed")
	}
}

// TestCheckpoint checks that a copy of a Scanner resumes where it was.
func TestCheckpoint(t *testing.T) {
	s := New([]byte(`[{"a":[1,2]},"b"]`))
	s.Open()
	mark := s
	if !s.Open() {
		t.Fatal("Open of the object")
	}
	if key, _, ok := s.Key(nil); !ok || string(key) != "a" || !s.Skip() || s.Next() {
		t.Fatal("read into the object")
	}
	s = mark
	if !s.Skip() || !s.Next() {
		t.Fatal("Skip from the checkpoint")
	}
	if kind, text, _ := s.Value(nil); kind != String || string(text) != "b" || s.Next() || s.Malformed() || !s.AtEnd() {
		t.Fatalf("after the checkpoint: %d %q", kind, text)
	}
}

// TestDst checks where unescaped text goes: appended to dst, which grows
// only when it must, each string capped so that appending to one cannot
// overwrite the next.
func TestDst(t *testing.T) {
	data := []byte(`["a\nb","plain","c\td"]`)
	dst := make([]byte, 0, len(data))
	s := New(data)
	var texts [][]byte
	for more := s.Open(); more; more = s.Next() {
		var text []byte
		_, text, dst = s.Value(dst)
		texts = append(texts, text)
	}
	if string(dst) != "a\nbc\td" || cap(dst) != len(data) {
		t.Fatalf("dst %q (cap %d), want the unescaped strings in the buffer given", dst, cap(dst))
	}
	if cap(texts[0]) != len(texts[0]) {
		t.Fatalf("an unescaped string has room to append to: len %d cap %d", len(texts[0]), cap(texts[0]))
	}
	if &texts[1][0] != &data[9] || cap(texts[1]) != len(texts[1]) {
		t.Fatal("a string without escapes must be a capped slice of the text")
	}
	_ = append(texts[0], 'X')
	if string(texts[2]) != "c\td" {
		t.Fatalf("appending to one string changed the next: %q", texts[2])
	}
}

func TestNoAllocations(t *testing.T) {
	data := []byte(`{"id":"px1","dl":"https:\/\/x.example\/\u00e9","n":[1,-2.5e3,true,null],"cd":{"k":"v\"w"}}`)
	dst := make([]byte, 0, len(data))
	allocs := testing.AllocsPerRun(100, func() {
		s := New(data)
		if !s.Skip() {
			t.Fatal("Skip")
		}
		s = New(data)
		dst = dst[:0]
		for more := s.Open(); more; more = s.Next() {
			_, dst, _ = s.Key(dst)
			_, _, dst = s.Value(dst)
		}
		if s.Malformed() {
			t.Fatal("malformed")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations, want 0", allocs)
	}
}

// FuzzScanner checks the scanner against encoding/json: Skip accepts
// exactly the texts encoding/json finds valid (nested within MaxDepth), a
// walk with Open, Next, Key and Value agrees, and for valid UTF-8 it reads
// the same strings, numbers and structure.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		`{"id":"px1","cd":{"value":"19.90","content_ids":["a",2]}}`,
		`[1,-0.5e+3,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800",{},[]]`,
		`{"a":{"a":{"a":[[[["deep"]]]]}}}`, `{"a":1,"a":2}`, `"\ud800\udc00"`, `01`, `[1,]`, "\"\xff\"", ` 0 `, `{"\u0061":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(data)
		skipped := s.Skip() && s.AtEnd()
		s = New(data)
		walked := walk(&s) && s.AtEnd()
		want := json.Valid(data) && depthOf(data) <= MaxDepth+1
		if skipped != want || walked != want {
			t.Fatalf("%q: Skip %v, walk %v, encoding/json (within the depth) %v", data, skipped, walked, want)
		}
		if !want || !utf8.Valid(data) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var theirs any
		if err := dec.Decode(&theirs); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		s = New(data)
		ours := tree(&s)
		if !reflect.DeepEqual(ours, theirs) {
			t.Fatalf("%q:\n ours %#v\ntheirs %#v", data, ours, theirs)
		}
	})
}

// tree reads the value at the cursor into what encoding/json decodes it to
// (with UseNumber).
func tree(s *Scanner) any {
	switch s.Peek() {
	case '{':
		m := map[string]any{}
		for more := s.Open(); more; more = s.Next() {
			k, _, _ := s.Key(nil)
			m[string(k)] = tree(s)
		}
		return m
	case '[':
		a := []any{}
		for more := s.Open(); more; more = s.Next() {
			a = append(a, tree(s))
		}
		return a
	}
	switch kind, text, _ := s.Value(nil); kind {
	case String:
		return string(text)
	case Number:
		return json.Number(text)
	case Bool:
		return string(text) == "true"
	}
	return nil
}

// depthOf returns how many objects and arrays of data are open at once at
// the most, counted outside strings.
func depthOf(data []byte) int {
	depth, most, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '{' || c == '['):
			depth++
			most = max(most, depth)
		case !inString && (c == '}' || c == ']'):
			depth--
		}
	}
	return most
}
