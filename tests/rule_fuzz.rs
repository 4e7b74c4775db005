//! The rule parser and checker never panic: on any expression text, and on any edit of the
//! shipped rule file (bytes cut, tokens inserted, lines duplicated or swapped), they return a
//! rule set or an error, and the error renders. (`fuzz/` holds a cargo-fuzz target over the
//! same entry points, for longer runs outside CI.)

use std::path::{Path, PathBuf};

use proptest::prelude::*;

fn rules_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.toml")
}

fn default_text() -> String {
    std::fs::read_to_string(rules_path()).unwrap()
}

fn as_of() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()
}

/// Pieces of the rule language worth splicing in: operators, keywords, brackets, quotes,
/// numbers at the edges, Korean text, TOML syntax.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "\"\"\"",
    ",",
    ".",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">=",
    ">",
    "+",
    "-",
    "*",
    "/",
    "and",
    "or",
    "not",
    "in",
    "is null",
    "is not null",
    "if",
    "then",
    "else",
    "last_days(",
    "month(",
    "codesets(",
    "count_distinct(",
    "latest(",
    "0",
    "-1",
    "9223372036854775807",
    "99999999999999999999",
    "1e400",
    "2026-02-30",
    "가",
    "퇴원",
    "\n",
    "\n[[cohort]]\n",
    "\n[features.x]\n",
    "\nunknown = 1\n",
    "#",
    "\\",
    "\u{0}",
    "🙂",
];

/// One edit of a text, chosen by the strategy.
#[derive(Debug, Clone)]
enum Edit {
    Cut { at: usize, len: usize },
    Insert { at: usize, token: usize },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Cut { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Edit::Insert { at, token }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
    ]
}

fn char_boundary(s: &str, at: usize) -> usize {
    let mut i = at % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, e: &Edit) -> String {
    match e {
        Edit::Cut { at, len } => {
            let a = char_boundary(text, *at);
            let b = char_boundary(text, (a + len).min(text.len()));
            format!("{}{}", &text[..a], &text[b.max(a)..])
        }
        Edit::Insert { at, token } => {
            let a = char_boundary(text, *at);
            format!("{}{}{}", &text[..a], TOKENS[*token], &text[a..])
        }
        Edit::DuplicateLine { line } => {
            let mut lines: Vec<&str> = text.lines().collect();
            let i = line % lines.len().max(1);
            if let Some(l) = lines.get(i).copied() {
                lines.insert(i, l);
            }
            lines.join("\n")
        }
        Edit::SwapLines { a, b } => {
            let mut lines: Vec<&str> = text.lines().collect();
            let n = lines.len().max(1);
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_checker_never_panics_on_an_edited_rule_file(edits in proptest::collection::vec(edit(), 1..4)) {
        let mut text = default_text();
        for e in &edits {
            text = apply(&text, e);
        }
        if let Err(e) = balgul::rules::check_text(&rules_path(), &text, as_of()) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn the_expression_parser_never_panics(tokens in proptest::collection::vec(0..TOKENS.len(), 0..24), names in proptest::collection::vec("[a-z_]{1,8}", 0..4)) {
        let mut src = String::new();
        for (i, t) in tokens.iter().enumerate() {
            src.push_str(TOKENS[*t]);
            if let Some(n) = names.get(i % names.len().max(1)) {
                src.push(' ');
                src.push_str(n);
                src.push(' ');
            }
        }
        let _ = balgul::rules::expr::parse(&src);
    }

    #[test]
    fn the_expression_parser_never_panics_on_any_text(src in "\\PC{0,64}") {
        let _ = balgul::rules::expr::parse(&src);
    }
}

/// The unedited file checks: the edits above start from a valid rule set.
#[test]
fn the_unedited_rule_file_checks() {
    balgul::rules::check_text(&rules_path(), &default_text(), as_of()).unwrap();
}
