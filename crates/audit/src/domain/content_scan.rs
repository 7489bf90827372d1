//! A cheap reading of the filter columns' copies inside an event's canonical
//! content, for the verifier's per-row cross-check (VerifyChain reads every
//! row of a tenant; a full JSON parse per row was a fifth of its time).
//!
//! It walks the compact document our serializer writes, reads the wanted
//! top-level string values where they hold no escapes, and passes over
//! every other value checking its grammar as a JSON parser would (strings,
//! escapes, numbers, literals, nesting) without building anything. It never
//! decides that a row is wrong: anything it cannot read plainly or that is
//! not compact JSON (an escape in a wanted value or a key, whitespace, a
//! repeated wanted key, deep nesting) gives `None`, and the caller falls
//! back to the full parse, which then decides. So a document passes on this
//! path only if it is valid JSON whose wanted values were read exactly as a
//! JSON parser reads them; whitespace is refused because it is where a
//! lax scan and a parser could disagree on where a string starts.

/// The filter columns' copies, borrowed from the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter<'a> {
    /// `tenant_id`.
    pub tenant_id: &'a str,
    /// `sequence`.
    pub sequence: i64,
    /// `event_id`.
    pub event_id: &'a str,
    /// `kind`.
    pub kind: &'a str,
    /// `occur_time`, as written (RFC 3339).
    pub occur_time: &'a str,
    /// `agent.id`, or empty when `agent` is null.
    pub agent_id: &'a str,
    /// `grant_id`.
    pub grant_id: &'a str,
    /// `session_id`.
    pub session_id: &'a str,
}

/// Reads the filter columns' copies; `None` when the document cannot be read
/// on the cheap path (the caller then parses it in full).
pub fn scan(content: &str) -> Option<Filter<'_>> {
    let mut c = Cursor {
        s: content,
        b: content.as_bytes(),
        i: 0,
    };
    let mut f = Partial::default();
    // Keys are read plainly: a wanted key spelled with escapes is left to
    // the full parse rather than missed.
    c.members(b'{', b'}', |c| {
        let key = c.plain_string()?;
        c.eat(b':')?;
        match key {
            "tenant_id" => once(&mut f.tenant_id, c.plain_string()?),
            "sequence" => once(&mut f.sequence, c.integer()?),
            "event_id" => once(&mut f.event_id, c.plain_string()?),
            "kind" => once(&mut f.kind, c.plain_string()?),
            "occur_time" => once(&mut f.occur_time, c.plain_string()?),
            "agent" => once(&mut f.agent_id, c.agent_id()?),
            "grant_id" => once(&mut f.grant_id, c.plain_string()?),
            "session_id" => once(&mut f.session_id, c.plain_string()?),
            _ => c.skip_value(1),
        }
    })?;
    if c.i != c.b.len() {
        return None;
    }
    Some(Filter {
        tenant_id: f.tenant_id?,
        sequence: f.sequence?,
        event_id: f.event_id?,
        kind: f.kind?,
        occur_time: f.occur_time?,
        agent_id: f.agent_id?,
        grant_id: f.grant_id?,
        session_id: f.session_id?,
    })
}

#[derive(Default)]
struct Partial<'a> {
    tenant_id: Option<&'a str>,
    sequence: Option<i64>,
    event_id: Option<&'a str>,
    kind: Option<&'a str>,
    occur_time: Option<&'a str>,
    agent_id: Option<&'a str>,
    grant_id: Option<&'a str>,
    session_id: Option<&'a str>,
}

/// Sets a field seen for the first time; a repeated key is left to the
/// full parse (which refuses it).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// A string without escapes, borrowed (quotes are ASCII, so the slice
    /// lies on character boundaries). A control character, which JSON
    /// forbids in strings, leaves the document to the full parse.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = string_stop(self.b, start)?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        self.s.get(start..end)
    }

    /// An integer as JSON writes it (no leading zeros, no fraction, no
    /// `-0`, which a JSON parser reads as a float).
    fn integer(&mut self) -> Option<i64> {
        let start = self.i;
        self.number()?;
        let n: i64 = self.s.get(start..self.i)?.parse().ok()?;
        (n != 0 || self.b[start] != b'-').then_some(n)
    }

    /// `null` (no agent: empty) or an object whose `id` is read.
    fn agent_id(&mut self) -> Option<&'a str> {
        if self.b.get(self.i..)?.starts_with(b"null") {
            self.i += 4;
            return Some("");
        }
        let mut id = None;
        self.members(b'{', b'}', |c| {
            let key = c.plain_string()?;
            c.eat(b':')?;
            if key == "id" {
                once(&mut id, c.plain_string()?)
            } else {
                c.skip_value(1)
            }
        })?;
        id
    }

    /// An object or array from `open` to `close`, each member (a key and
    /// its value, or an element) read by `member`, separated by commas.
    fn members(
        &mut self,
        open: u8,
        close: u8,
        mut member: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        if self.b.get(self.i) == Some(&close) {
            self.i += 1;
            return Some(());
        }
        loop {
            member(self)?;
            match self.next()? {
                b',' => {}
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }

    /// Passes over a string, checking it as a JSON parser would: no control
    /// characters, only the escapes JSON has.
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let at = string_stop(self.b, self.i)?;
            self.i = at + 1;
            match self.b[at] {
                b'"' => return Some(()),
                b'\\' => {}
                _ => return None,
            }
            match self.next()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                b'u' => {
                    let code = self
                        .b
                        .get(self.i..self.i + 4)?
                        .iter()
                        .try_fold(0u32, |n, &c| Some(n << 4 | char::from(c).to_digit(16)?))?;
                    // A surrogate must pair up to be a character, and
                    // `serde_json` refuses one that does not; our serializer
                    // writes none (it escapes only control characters), so
                    // any is left to the full parse (found by fuzzing).
                    if (0xD800..=0xDFFF).contains(&code) {
                        return None;
                    }
                    self.i += 4;
                }
                _ => return None,
            }
        }
    }

    /// An integer of at most 19 digits, as JSON writes it (`-`, no leading
    /// zeros). Our serializer writes no other numbers; a fraction, an
    /// exponent or a longer integer goes to the full parse, which may
    /// refuse it (`1e999` is grammatical JSON that `serde_json` refuses as
    /// out of range: found by the `chain_content` fuzz target).
    fn number(&mut self) -> Option<()> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let digits = self.digits();
        if digits == 0 || digits > 19 || (digits > 1 && self.b[self.i - digits] == b'0') {
            return None;
        }
        if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    /// Passes over any value, checking its grammar as a JSON parser would
    /// (compact: no whitespace anywhere), so the scan and the parser agree
    /// on where every string starts and ends. `depth` is how deep the value
    /// sits; past [`MAX_DEPTH`] the full parse decides.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match *self.b.get(self.i)? {
            b'"' => self.skip_string(),
            b'{' => self.members(b'{', b'}', |c| {
                c.skip_string()?;
                c.eat(b':')?;
                c.skip_value(depth + 1)
            }),
            b'[' => self.members(b'[', b']', |c| c.skip_value(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.b.get(self.i..)?.starts_with(word) {
            return None;
        }
        self.i += word.len();
        Some(())
    }
}

/// Nesting the scan follows (serde_json's own limit is 128).
const MAX_DEPTH: usize = 64;

/// Whether a string ends its plain stretch at `c`: a quote, a backslash,
/// or a control character (which JSON forbids unescaped).
fn stops_string(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// The first byte at or after `from` that [`stops_string`], looked for
/// eight bytes at a time: the content's strings are short and many (about
/// sixty per event), so a search that sets up vector registers per call
/// cost more than it saved. `None` when the document ends first.
fn string_stop(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(word) = b.get(i..i.checked_add(8)?) {
        let x = u64::from_le_bytes(word.try_into().ok()?);
        let quote = x ^ (ONES * u64::from(b'"'));
        let slash = x ^ (ONES * u64::from(b'\\'));
        // The classic "has a zero byte" / "has a byte below n" tests. A
        // borrow can flag bytes above a true hit, never below one, so the
        // lowest flagged byte is the first that stops the string.
        let hits = (quote.wrapping_sub(ONES) & !quote
            | slash.wrapping_sub(ONES) & !slash
            | x.wrapping_sub(ONES * 0x20) & !x)
            & HIGHS;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = b.get(i..)?;
    rest.iter().position(|&c| stops_string(c)).map(|p| i + p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::domain::event::Actor;
    use crate::domain::event::tests::sample;

    #[test]
    fn reads_what_the_serializer_writes() {
        let mut e = sample("e-1");
        e.reason = "a \"quoted\" reason with {braces} and [brackets], \\ and \u{e9}".into();
        e.attributes
            .insert("k\"ey".into(), "v}al\\\"ue ,\"grant_id\":\"g-x\"".into());
        let content = e.canonical(42).unwrap();
        let f = scan(&content).expect("plain ids read on the cheap path");
        assert_eq!(f.tenant_id, e.tenant_id);
        assert_eq!(f.sequence, 42);
        assert_eq!(f.event_id, e.event_id);
        assert_eq!(f.kind, e.kind.as_str());
        assert_eq!(
            f.occur_time,
            crate::domain::event::format_time(e.occur_time)
        );
        assert_eq!(f.agent_id, e.agent_id());
        assert_eq!(f.grant_id, e.grant_id);
        assert_eq!(f.session_id, e.session_id);
    }

    #[test]
    fn no_agent_reads_as_empty() {
        let mut e = sample("e-2");
        e.agent = None;
        let content = e.canonical(1).unwrap();
        assert_eq!(scan(&content).unwrap().agent_id, "");
        e.agent = Some(Actor {
            id: "u-9".into(),
            kind: "support_agent".into(),
            name: "N\"ame".into(),
            email: "a@b.c".into(),
        });
        let content = e.canonical(1).unwrap();
        assert_eq!(scan(&content).unwrap().agent_id, "u-9");
    }

    #[test]
    fn leaves_to_the_full_parse_what_it_cannot_read_plainly() {
        let e = sample("e-3");
        let content = e.canonical(7).unwrap();
        // The document with `allowed`'s value (`true`) replaced.
        let allowed =
            |value: &str| content.replacen("\"allowed\":true", &format!("\"allowed\":{value}"), 1);
        let cases = [
            // An escape in a wanted value.
            content.replacen(&format!("\"{}\"", e.tenant_id), "\"t\\u002d1\"", 1),
            // A repeated key.
            content.replacen('{', "{\"grant_id\":\"g-2\",", 1),
            // Whitespace, trailing bytes, a cut document, a missing key.
            content.replacen("\"tenant_id\":", "\"tenant_id\": ", 1),
            format!("{content} "),
            content[..content.len() - 1].to_string(),
            content.replacen("\"sequence\":7,", "", 1),
            // Numbers JSON does not write.
            content.replacen("\"sequence\":7", "\"sequence\":07", 1),
            content.replacen("\"sequence\":7", "\"sequence\":7.0", 1),
            content.replacen("\"sequence\":7", "\"sequence\":-0", 1),
            // Numbers our serializer never writes, elsewhere in the
            // document: some grammatical ones `serde_json` refuses (out of
            // range), so the scan leaves them all to it.
            allowed("1.5e+98552921648689605"),
            allowed("2.5"),
            allowed(&"9".repeat(400)),
            allowed("12345678901234567890"),
            // Surrogate escapes, paired or not (a lone one `serde_json`
            // refuses).
            allowed("\"\\udaae@\""),
            allowed("\"\\udc00\""),
            allowed("\"\\ud83d\\ude00\""),
            // Values a JSON parser refuses.
            allowed("nope"),
            allowed("{\"a\":[1}"),
            allowed("\"a\\qb\""),
            content.replacen("\"t1\"", "\"t\u{1}1\"", 1),
            allowed(&format!("{}{}", "[".repeat(100), "]".repeat(100))),
            String::new(),
            "[]".into(),
        ];
        for (n, case) in cases.iter().enumerate() {
            assert_eq!(scan(case), None, "case {n}: {case}");
        }
    }

    /// Fields nested inside another value are not the document's own: the
    /// scan reads the top level's, as the parser does; with whitespace,
    /// where a lax scan could lose track of strings, it declines.
    #[test]
    fn nested_copies_do_not_shadow_the_top_level() {
        let fields = |tenant: &str| {
            let c = sample("e-4")
                .canonical(3)
                .unwrap()
                .replace("\"t1\"", &format!("\"{tenant}\""));
            c[1..c.len() - 1].to_string()
        };
        let (evil, real) = (fields("evil"), fields("real"));
        let compact = format!(
            "{{\"zz\":{{\"b\":1,{evil},\"w\":\"k,\",\":[\":0}},{real},\"y\":\"],\",\":a\":0}}"
        );
        assert_eq!(scan(&compact).unwrap().tenant_id, "real");
        let parsed: serde_json::Value = serde_json::from_str(&compact).unwrap();
        assert_eq!(parsed["tenant_id"], "real");
        let spaced = format!(
            "{{\"zz\": {{\"b\":1,{evil},\"w\": \"k,\",\":[\":0}},{real},\"y\":\"],\",\":a\":0}}"
        );
        assert_eq!(scan(&spaced), None);
    }

    #[test]
    fn the_word_search_stops_where_a_byte_by_byte_search_does() {
        let naive = |b: &[u8], from: usize| {
            b[from..]
                .iter()
                .position(|&c| stops_string(c))
                .map(|p| from + p)
        };
        // Every byte value at every place of a 20-byte run, searched from
        // every start (each word position and the tail).
        for v in 0..=255u8 {
            for at in 0..20 {
                let mut b = vec![b'a'; 20];
                b[at] = v;
                for from in 0..20 {
                    assert_eq!(
                        string_stop(&b, from),
                        naive(&b, from),
                        "{v} at {at} from {from}"
                    );
                }
            }
        }
        // Two stops in one word, high bytes (UTF-8) around them: the
        // first is found, not the one a borrow could flag.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let b: Vec<u8> = (0..24)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    [
                        b'"', b'\\', 0x1f, 0x00, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xc3, 0xff,
                        b'a',
                    ][(seed % 13) as usize]
                })
                .collect();
            for from in [0, 3, 8, 17] {
                assert_eq!(string_stop(&b, from), naive(&b, from), "{b:?} from {from}");
            }
        }
    }
}
