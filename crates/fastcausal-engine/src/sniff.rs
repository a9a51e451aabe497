//! Guessing a CSV file's delimiter and whether it has a header, from its first bytes.
//!
//! Delimiter: of `,` `\t` `;` `|`, the one that splits every sampled line into the same number
//! (≥ 2) of fields, preferring more fields; failing that, the one whose most common field count
//! covers most lines; `,` if nothing splits. Header: the first row is a header when some column
//! is numeric in every later sampled row but not in the first; when no column is numeric at
//! all the first row is assumed to be a header (the common case for all-text files). Quotes
//! (`"…"`, with `""` as an escaped quote) are respected.

/// A CSV dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvDialect {
    pub delimiter: u8,
    pub has_header: bool,
}

const CANDIDATES: [u8; 4] = [b',', b'\t', b';', b'|'];
const SAMPLE_LINES: usize = 100;

/// Splits one line into fields (quotes respected, quotes removed).
fn split(line: &str, delimiter: u8) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' {
            quoted = true;
        } else if c as u32 == delimiter as u32 {
            fields.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    fields.push(cur);
    fields
}

/// Complete lines of the sample (a last line cut off by the sample's end is dropped).
fn sample_lines(sample: &[u8], complete: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(sample);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if !complete || lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .take(SAMPLE_LINES)
        .map(str::to_owned)
        .collect()
}

fn is_number(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.parse::<f64>().is_ok()
}

/// Detects the dialect from the first bytes of a file; `complete` says whether the sample is
/// the whole file.
pub fn sniff_csv(sample: &[u8], complete: bool) -> CsvDialect {
    let lines = sample_lines(sample, complete);
    let delimiter = detect_delimiter(&lines);
    let has_header = detect_header(&lines, delimiter);
    CsvDialect { delimiter, has_header }
}

fn detect_delimiter(lines: &[String]) -> u8 {
    if lines.is_empty() {
        return b',';
    }
    let mut best: Option<(u8, usize, usize)> = None; // (delimiter, lines agreeing, fields)
    for d in CANDIDATES {
        let counts: Vec<usize> = lines.iter().map(|l| split(l, d).len()).collect();
        let mut mode = (0usize, 0usize); // (fields, frequency)
        for &c in &counts {
            let f = counts.iter().filter(|&&x| x == c).count();
            if f > mode.1 || (f == mode.1 && c > mode.0) {
                mode = (c, f);
            }
        }
        if mode.0 < 2 {
            continue;
        }
        let candidate = (d, mode.1, mode.0);
        best = match best {
            None => Some(candidate),
            Some(b) if (candidate.1, candidate.2) > (b.1, b.2) => Some(candidate),
            keep => keep,
        };
    }
    best.map_or(b',', |b| b.0)
}

fn detect_header(lines: &[String], delimiter: u8) -> bool {
    let rows: Vec<Vec<String>> = lines.iter().map(|l| split(l, delimiter)).collect();
    let Some((first, rest)) = rows.split_first() else { return true };
    if rest.is_empty() {
        // A single line: a header if nothing in it is a number.
        return !first.iter().any(|f| is_number(f));
    }
    let mut numeric_columns = 0;
    for (j, head) in first.iter().enumerate() {
        let values: Vec<&str> =
            rest.iter().filter_map(|r| r.get(j)).map(|s| s.as_str()).filter(|s| !s.trim().is_empty()).collect();
        if values.is_empty() || !values.iter().all(|v| is_number(v)) {
            continue;
        }
        numeric_columns += 1;
        if !is_number(head) {
            return true;
        }
    }
    numeric_columns == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_with_header() {
        let d = sniff_csv(b"id,name,score\n1,ann,3.5\n2,bob,4\n", true);
        assert_eq!(d, CsvDialect { delimiter: b',', has_header: true });
    }

    #[test]
    fn semicolon_without_header() {
        let d = sniff_csv(b"1;2.5;x\n2;3.5;y\n3;1e3;z\n", true);
        assert_eq!(d, CsvDialect { delimiter: b';', has_header: false });
    }

    #[test]
    fn tab_and_quotes() {
        let d = sniff_csv(b"a\tb\n\"x, y\"\t1\n\"p, q\"\t2\n", true);
        assert_eq!(d, CsvDialect { delimiter: b'\t', has_header: true });
    }

    #[test]
    fn cut_off_last_line_is_ignored() {
        let d = sniff_csv(b"a|b\n1|2\n3|4\n5", false);
        assert_eq!(d, CsvDialect { delimiter: b'|', has_header: true });
    }

    #[test]
    fn all_text_assumes_header() {
        assert!(sniff_csv(b"city,country\nParis,France\n", true).has_header);
    }
}
