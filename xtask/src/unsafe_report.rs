// SPDX-License-Identifier: BSD-2-Clause-Patent
//! `cargo xtask unsafe-report`: counts `unsafe` blocks, `unsafe fn`s and `unsafe impl`s per
//! source file of td-shim, td-payload, td-shim-tools, xtask and the boot tests, and checks
//! the `unsafe` rules of STYLE.md §6/§7 from the source text (no parser dependency):
//! - every `unsafe {` block and `unsafe impl` has a `// SAFETY:` comment right before it
//!   (attributes may sit in between; a statement continued over several lines counts from
//!   its first line);
//! - every `pub unsafe fn` has a `# Safety` section in its doc comment;
//! - every file under `td-shim/src/format/` and `td-shim/src/loader/` opens (after its
//!   `//!` doc) with the parser lint header. A `mod.rs` that only lists modules is exempt.
//!
//! Prints a table and exits non-zero on any violation. Inputs are our own sources.

use crate::image::workspace_root;
use clap::Args;
use std::fs;
use std::path::{Path, PathBuf};

/// Crates scanned (directories under the workspace root).
const CRATES: [&str; 5] = ["td-shim", "td-payload", "td-shim-tools", "xtask", "tests"];
/// Directories whose files must carry the parser lint header.
const LINT_HEADER_DIRS: [&str; 2] = ["td-shim/src/format", "td-shim/src/loader"];
/// The lints of that header (STYLE.md §7).
const PARSER_LINTS: [&str; 4] = [
    "clippy::indexing_slicing",
    "clippy::unwrap_used",
    "clippy::panic",
    "clippy::arithmetic_side_effects",
];
/// Where STYLE.md §6 expects `unsafe` in td-shim (anything else is listed for review).
const UNSAFE_HOMES: [&str; 5] = [
    "td-shim/src/arch/",
    "td-shim/src/platform/tdx.rs",
    "td-shim/src/boot/handoff.rs",
    "td-shim/src/main.rs",
    "td-shim/src/mem/",
];

#[derive(Args, Debug)]
pub struct UnsafeReportArgs {
    /// List every scanned file, not only those with `unsafe` or a violation.
    #[arg(long)]
    pub all: bool,
}

/// One source file with comments and string/char literal contents blanked out (same
/// lines, same columns), next to the original lines.
struct Source {
    raw: Vec<String>,
    code: Vec<String>,
}

/// Blanks comments and literals so that `unsafe` inside them is not counted. Handles line
/// and nested block comments, strings with escapes, raw strings (`r#"…"#`), byte strings
/// and char literals (told apart from lifetimes).
fn strip(text: &str) -> Source {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.extend([' ', ' ']);
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.extend([' ', ' ']);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !prev_is_ident(&chars, i)
            && raw_string_start(&chars, i + 1).is_some()
        {
            let (hashes, body) = raw_string_start(&chars, i + 1).unwrap_or((0, i + 1));
            out.extend(std::iter::repeat_n(' ', body - i));
            i = body;
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() {
                if chars[i] == '\\' {
                    out.push(' ');
                    if let Some(&n) = chars.get(i + 1) {
                        out.push(blank(n));
                    }
                    i += 2;
                } else if chars[i] == '"' {
                    out.push(' ');
                    i += 1;
                    break;
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == '\'' {
            // 'x', '\n', '\u{1F600}' are literals; 'a (no closing quote right after) a lifetime.
            let end = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&k| chars[k] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.extend(std::iter::repeat_n(' ', e + 1 - i));
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    let code: String = out.into_iter().collect();
    Source {
        raw: text.lines().map(str::to_string).collect(),
        code: code.lines().map(str::to_string).collect(),
    }
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0
        && chars
            .get(i - 1)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// At `at` (just after an `r`): `#`* then `"`: returns (number of `#`, index after `"`).
fn raw_string_start(chars: &[char], at: usize) -> Option<(usize, usize)> {
    let mut k = at;
    while chars.get(k) == Some(&'#') {
        k += 1;
    }
    (chars.get(k) == Some(&'"')).then_some((k - at, k + 1))
}

/// What follows an `unsafe` keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Block,
    Fn,
    Impl,
    Trait,
    Extern,
    Other,
}

/// One `unsafe` keyword in code.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Site {
    line: usize,
    kind: Kind,
    /// For `Fn`: declared `pub` (any visibility starting with `pub`).
    public: bool,
    in_test: bool,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The next word or punctuation character after (line, col) in the blanked code.
fn next_token(code: &[String], mut line: usize, mut col: usize) -> Option<(String, usize)> {
    loop {
        let l = code.get(line)?;
        let rest = l.get(col..).unwrap_or("");
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            line += 1;
            col = 0;
            continue;
        }
        let word: String = trimmed.chars().take_while(|&c| is_ident(c)).collect();
        let tok = if word.is_empty() {
            trimmed.chars().next()?.to_string()
        } else {
            word
        };
        let at = col + (rest.len() - trimmed.len()) + tok.len();
        return Some((tok, at));
    }
}

/// The token after `unsafe`, skipping `extern "ABI"` to the item it introduces.
fn classify(code: &[String], line: usize, col: usize) -> Kind {
    let Some((tok, at)) = next_token(code, line, col) else {
        return Kind::Other;
    };
    match tok.as_str() {
        "{" => Kind::Block,
        "fn" => Kind::Fn,
        "impl" => Kind::Impl,
        "trait" | "auto" => Kind::Trait,
        // `unsafe extern "C" fn` is a function, `unsafe extern "C" {` a block of items (the
        // ABI string is blanked, so the next token is `fn` or `{`).
        "extern" => match next_token(code, line, at).map(|t| t.0).as_deref() {
            Some("fn") => Kind::Fn,
            Some("{") => Kind::Extern,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

/// Line ranges (inclusive, 0-based) of `#[cfg(test)]` items, found by brace matching.
fn test_ranges(code: &[String]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, l) in code.iter().enumerate() {
        if !l.trim_start().starts_with("#[cfg(test)]") {
            continue;
        }
        let mut depth = 0i64;
        let mut opened = false;
        'outer: for (j, s) in code.iter().enumerate().skip(i + 1) {
            for ch in s.chars() {
                match ch {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => {
                        depth -= 1;
                        if opened && depth == 0 {
                            out.push((i, j));
                            break 'outer;
                        }
                    }
                    ';' if !opened => {
                        out.push((i, j));
                        break 'outer;
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

fn find_sites(src: &Source) -> Vec<Site> {
    let tests = test_ranges(&src.code);
    let mut out = Vec::new();
    for (line, l) in src.code.iter().enumerate() {
        let mut from = 0;
        while let Some(pos) = l.get(from..).and_then(|r| r.find("unsafe")) {
            let at = from + pos;
            from = at + "unsafe".len();
            let before = l[..at].chars().next_back();
            let after = l.get(from..).and_then(|r| r.chars().next());
            if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
                continue;
            }
            let kind = classify(&src.code, line, from);
            let prefix = l[..at].trim();
            let public = prefix.starts_with("pub");
            out.push(Site {
                line,
                kind,
                public,
                in_test: tests.iter().any(|&(s, e)| s <= line && line <= e),
            });
        }
    }
    out
}

fn is_attribute(raw: &str) -> bool {
    let t = raw.trim_start();
    t.starts_with("#[") || t.starts_with("#!")
}

/// Whether the comment block right before the statement holding line `line` contains
/// `needle` (with `doc_only`, in a `///` line). Walks up over comment lines (no code once
/// comments and literals are blanked), attribute lines, and, for blocks, earlier lines of
/// the same statement (code not ending in `;`, `{`, `}` or `,`); stops at a blank line or
/// at the end of the previous statement or element.
fn comment_before_has(src: &Source, line: usize, needle: &str, doc_only: bool) -> bool {
    let mut i = line;
    while i > 0 {
        i -= 1;
        let raw = src.raw.get(i).map_or("", String::as_str);
        let code = src.code.get(i).map_or("", String::as_str).trim();
        if raw.trim().is_empty() {
            return false;
        }
        if code.is_empty() {
            if (!doc_only || raw.trim_start().starts_with("///")) && raw.contains(needle) {
                return true;
            }
            continue;
        }
        if is_attribute(raw) {
            continue;
        }
        if doc_only {
            // The inside of a multi-line attribute (`    X,` / `)]`) above an item.
            if code.ends_with(")]") || code.ends_with(',') {
                continue;
            }
            return false;
        }
        if [';', '{', '}', ','].iter().any(|&c| code.ends_with(c)) {
            return false;
        }
    }
    false
}

/// Whether a `format/` or `loader/` file opens with the parser lint header: after the SPDX
/// line and the `//!` paragraph, the first item is `#![deny(…)]` naming all four lints.
fn has_lint_header(src: &Source) -> bool {
    let mut i = 0;
    while i < src.raw.len() {
        let t = src.raw[i].trim();
        if t.is_empty() || t.starts_with("//") {
            i += 1;
            continue;
        }
        break;
    }
    let Some(first) = src.raw.get(i) else {
        return false;
    };
    if !first.trim_start().starts_with("#![deny(") {
        return false;
    }
    let mut attr = String::new();
    for l in &src.raw[i..] {
        attr.push_str(l.trim());
        if l.trim_end().ends_with(")]") {
            break;
        }
    }
    PARSER_LINTS.iter().all(|lint| attr.contains(lint))
}

/// A `mod.rs` that only declares modules (and `use`s): nothing for the lints to check.
fn is_module_list(src: &Source) -> bool {
    src.code.iter().all(|l| {
        let t = l.trim();
        t.is_empty()
            || t.starts_with("pub mod ")
            || t.starts_with("mod ")
            || t.starts_with("pub(crate) mod ")
            || t.starts_with("pub use ")
            || t.starts_with("use ")
            || t.starts_with("#[")
    })
}

/// Counts and violations of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// Workspace-relative path.
    pub path: String,
    pub blocks: usize,
    /// Of `blocks`, inside `#[cfg(test)]` code.
    pub test_blocks: usize,
    pub fns: usize,
    pub impls: usize,
    /// `unsafe trait` / `unsafe extern` blocks.
    pub other: usize,
    pub violations: Vec<String>,
}

impl FileReport {
    fn total(&self) -> usize {
        self.blocks + self.fns + self.impls + self.other
    }
}

/// Analyses one file's text; `rel` is its workspace-relative path (for messages and the
/// lint-header rule).
pub fn analyse(rel: &str, text: &str) -> FileReport {
    let src = strip(text);
    let mut r = FileReport {
        path: rel.to_string(),
        ..FileReport::default()
    };
    for s in find_sites(&src) {
        let at = s.line + 1;
        match s.kind {
            Kind::Block => {
                r.blocks += 1;
                if s.in_test {
                    r.test_blocks += 1;
                }
                if !comment_before_has(&src, s.line, "SAFETY:", false) {
                    r.violations.push(format!(
                        "{rel}:{at}: `unsafe` block without a `// SAFETY:` comment right before it"
                    ));
                }
            }
            Kind::Fn => {
                r.fns += 1;
                if s.public && !comment_before_has(&src, s.line, "# Safety", true) {
                    r.violations.push(format!(
                        "{rel}:{at}: `pub unsafe fn` without a `# Safety` doc section"
                    ));
                }
            }
            Kind::Impl => {
                r.impls += 1;
                if !comment_before_has(&src, s.line, "SAFETY:", false) {
                    r.violations.push(format!(
                        "{rel}:{at}: `unsafe impl` without a `// SAFETY:` comment right before it"
                    ));
                }
            }
            Kind::Trait | Kind::Extern => r.other += 1,
            Kind::Other => {}
        }
    }
    let needs_header = LINT_HEADER_DIRS
        .iter()
        .any(|d| rel.starts_with(&format!("{d}/")));
    if needs_header && !has_lint_header(&src) {
        let exempt = rel.ends_with("/mod.rs") && is_module_list(&src);
        if !exempt {
            r.violations.push(format!(
                "{rel}:1: parser module does not open with #![deny({})]",
                PARSER_LINTS.join(", ")
            ));
        }
    }
    r
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| Some(e.ok()?.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if p.is_dir() {
            // Build output and the separately built fuzz crate are not ours to scan.
            if !matches!(name.as_deref(), Some("target" | "fuzz" | "corpus")) {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn is_unsafe_home(rel: &str) -> bool {
    UNSAFE_HOMES.iter().any(|h| rel.starts_with(h))
}

/// `cargo xtask unsafe-report`.
pub fn unsafe_report(args: &UnsafeReportArgs) -> Result<(), String> {
    let root = workspace_root();
    let mut reports = Vec::new();
    for krate in CRATES {
        let mut files = Vec::new();
        rust_files(&root.join(krate), &mut files);
        for f in files {
            let text =
                fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            let rel = f
                .strip_prefix(&root)
                .unwrap_or(&f)
                .to_string_lossy()
                .into_owned();
            reports.push(analyse(&rel, &text));
        }
    }
    println!(
        "{:<44} {:>6} {:>6} {:>5} {:>6} {:>6}  violations",
        "file", "blocks", "(test)", "fns", "impls", "other"
    );
    let mut totals = FileReport::default();
    for r in &reports {
        totals.blocks += r.blocks;
        totals.test_blocks += r.test_blocks;
        totals.fns += r.fns;
        totals.impls += r.impls;
        totals.other += r.other;
        if !args.all && r.total() == 0 && r.violations.is_empty() {
            continue;
        }
        println!(
            "{:<44} {:>6} {:>6} {:>5} {:>6} {:>6}  {}",
            r.path,
            r.blocks,
            r.test_blocks,
            r.fns,
            r.impls,
            r.other,
            r.violations.len()
        );
    }
    println!(
        "{:<44} {:>6} {:>6} {:>5} {:>6} {:>6}  {}",
        format!("total ({} files)", reports.len()),
        totals.blocks,
        totals.test_blocks,
        totals.fns,
        totals.impls,
        totals.other,
        reports.iter().map(|r| r.violations.len()).sum::<usize>()
    );
    let review: Vec<&FileReport> = reports
        .iter()
        .filter(|r| r.path.starts_with("td-shim/src/") && r.total() > 0 && !is_unsafe_home(&r.path))
        .collect();
    if !review.is_empty() {
        println!();
        println!("td-shim files with `unsafe` outside arch/, platform/tdx.rs, boot/handoff.rs, main.rs, mem/ (STYLE.md §6: for review, not a violation):");
        for r in review {
            println!("  {} ({} sites)", r.path, r.total());
        }
    }
    let violations: Vec<&String> = reports.iter().flat_map(|r| &r.violations).collect();
    if violations.is_empty() {
        println!();
        println!("unsafe-report: no violations");
        return Ok(());
    }
    println!();
    for v in &violations {
        println!("violation: {v}");
    }
    Err(format!("{} unsafe-rule violation(s)", violations.len()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;

    fn v(text: &str) -> FileReport {
        analyse("td-shim/src/x.rs", text)
    }

    #[test]
    fn counts_each_kind() {
        let r = v(r#"
/// # Safety
/// Caller knows.
pub unsafe fn a() {
    // SAFETY: fine.
    unsafe { b() }
}
unsafe fn b() {}
// SAFETY: Sync because immutable.
unsafe impl Sync for X {}
unsafe extern "C" {
    fn c();
}
pub unsafe extern "C" fn d() {}
"#);
        // `d` has no doc: one violation; everything else is documented.
        assert_eq!((r.blocks, r.fns, r.impls, r.other), (1, 3, 1, 1));
        assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
        assert!(r.violations[0].contains(":14:"), "{:?}", r.violations);
    }

    #[test]
    fn ignores_unsafe_in_comments_strings_and_names() {
        let r = v(r##"
// unsafe { in a comment }
/* unsafe { block /* nested unsafe { */ } */
fn f() {
    let s = "unsafe { in a string }";
    let r = r#"unsafe { raw "quoted" }"#;
    let c = '{';
    let unsafe_count = 1;
    not_unsafe();
}
fn g<'a>(x: &'a str) -> &'a str { x }
"##);
        assert_eq!(r.total(), 0, "{r:?}");
        assert!(r.violations.is_empty());
    }

    #[test]
    fn block_needs_safety_comment_right_before() {
        let missing = v("fn f() {\n    let x = unsafe { g() };\n}\n");
        assert_eq!(missing.violations.len(), 1);
        assert!(missing.violations[0].contains("td-shim/src/x.rs:2:"));

        // A blank line between the comment and the block breaks the link.
        let gap = v("fn f() {\n    // SAFETY: ok.\n\n    unsafe { g() };\n}\n");
        assert_eq!(gap.violations.len(), 1);

        // A plain comment is not a SAFETY comment; the previous statement's one does not count.
        let other = v(
            "fn f() {\n    // SAFETY: for a.\n    unsafe { a() };\n    // just b\n    unsafe { b() };\n}\n",
        );
        assert_eq!(other.violations.len(), 1);
        assert!(other.violations[0].contains(":5:"));

        // Multi-line comment, attribute in between, statement continued over lines: fine.
        let ok = v("fn f() {
    // SAFETY: a long
    // explanation.
    #[cfg(target_os = \"none\")]
    unsafe {
        g()
    };
    // SAFETY: reading is harmless.
    let y = a
        + unsafe { h() };
    for b in x {
        // SAFETY: x is fine.
        *b = unsafe { r() } as u8;
    }
}
");
        assert!(ok.violations.is_empty(), "{:?}", ok.violations);
        assert_eq!(ok.blocks, 3);
    }

    #[test]
    fn impl_needs_safety_comment() {
        let r = v("struct X;\nunsafe impl Send for X {}\n");
        assert_eq!(r.impls, 1);
        assert_eq!(r.violations.len(), 1);
    }

    #[test]
    fn pub_unsafe_fn_needs_safety_section() {
        let r = v("/// Does things.\npub unsafe fn f() {}\n/// Private.\nunsafe fn g() {}\n");
        assert_eq!(r.fns, 2);
        assert_eq!(r.violations.len(), 1);
        assert!(r.violations[0].contains(":2:"));
        let ok = v(
            "/// Does things.\n///\n/// # Safety\n/// Caller.\n#[inline]\npub(crate) unsafe fn f() {}\n",
        );
        assert!(ok.violations.is_empty(), "{:?}", ok.violations);
    }

    #[test]
    fn counts_test_blocks() {
        let r = v("fn a() {
    // SAFETY: x.
    unsafe { b() }
}
#[cfg(test)]
mod tests {
    fn t() {
        // SAFETY: y.
        unsafe { c() }
    }
}
");
        assert_eq!((r.blocks, r.test_blocks), (2, 1));
    }

    #[test]
    fn parser_modules_need_the_lint_header() {
        let good = "// SPDX-License-Identifier: BSD-2-Clause-Patent\n//! Doc.\n#![deny(\n    clippy::indexing_slicing,\n    clippy::unwrap_used,\n    clippy::panic,\n    clippy::arithmetic_side_effects\n)]\n\nfn f() {}\n";
        assert!(analyse("td-shim/src/format/a.rs", good)
            .violations
            .is_empty());
        assert!(analyse("td-shim/src/loader/b.rs", good)
            .violations
            .is_empty());
        // Outside format/ and loader/ nothing is required.
        let plain = "//! Doc.\nfn f() {}\n";
        assert!(analyse("td-shim/src/boot/a.rs", plain)
            .violations
            .is_empty());
        assert_eq!(
            analyse("td-shim/src/format/a.rs", plain).violations.len(),
            1
        );
        // A lint missing from the list, or the attribute after the first item.
        let partial = good.replace("    clippy::panic,\n", "");
        assert_eq!(
            analyse("td-shim/src/format/a.rs", &partial)
                .violations
                .len(),
            1
        );
        let late = "//! Doc.\nuse x;\n#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic, clippy::arithmetic_side_effects)]\n";
        assert_eq!(analyse("td-shim/src/format/a.rs", late).violations.len(), 1);
        // A mod.rs that only lists modules is exempt; one with code is not.
        let list = "// SPDX\n//! Formats.\n\npub mod a;\npub mod b;\n";
        assert!(analyse("td-shim/src/format/mod.rs", list)
            .violations
            .is_empty());
        let code = "//! Formats.\npub mod a;\nfn f() {}\n";
        assert_eq!(
            analyse("td-shim/src/format/mod.rs", code).violations.len(),
            1
        );
    }
}
