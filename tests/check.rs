//! `balgul check`: each kind of rule error, with its message and its place in the file.

use std::path::Path;

use chrono::NaiveDate;

const BASE: &str = r#"[ruleset]
name = "t"
version = "1"

[params]
min_age = { value = 65 }
window = { values = [{ from = 2026-01-01, value = 30 }, { from = 2026-07-01, value = 60 }] }

[features.visits]
from = "claims"
where = "care_type == 'OUT' and last_days(start_date, params.window)"
agg = "count()"

[[base]]
id = "B1"
label = "65+"
when = "age >= params.min_age"

[[cohort]]
id = "C"
label = "c"
when = "visits > 0"

[ranking]
cap = 10
"#;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()
}

/// The first line of the error for `text` (BASE with one replacement).
fn error(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    let text = BASE.replacen(from, to, 1);
    let err = balgul::rules::check_text(Path::new("t.toml"), &text, as_of())
        .expect_err("an error")
        .to_string();
    err.lines().next().unwrap().to_string()
}

#[test]
fn the_base_rule_set_is_valid_and_takes_the_parameter_in_force() {
    let rs = balgul::rules::check_text(Path::new("t.toml"), BASE, as_of()).unwrap();
    let window = rs.params.iter().find(|p| p.0 == "window").unwrap();
    assert_eq!(window.1, balgul::ir::Value::Int(60));
    let early = balgul::rules::check_text(
        Path::new("t.toml"),
        BASE,
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
    )
    .unwrap();
    assert_eq!(
        early.params.iter().find(|p| p.0 == "window").unwrap().1,
        balgul::ir::Value::Int(30)
    );
}

#[test]
fn unknown_key() {
    assert!(
        error("label = \"c\"", "lable = \"c\"")
            .starts_with("t.toml:21:1: unknown field `lable`, expected one of")
    );
}

#[test]
fn unknown_feature_with_a_suggestion() {
    assert_eq!(
        error("when = \"visits > 0\"", "when = \"visit > 0\""),
        "t.toml:22:9: unknown name `visit`: not a person column, feature or derived value: did you mean `visits`?"
    );
}

#[test]
fn unknown_column_of_a_table() {
    assert_eq!(
        error("care_type == 'OUT'", "caretype == 'OUT'"),
        "t.toml:11:10: unknown column `caretype` of table `claims`: did you mean `care_type`?"
    );
}

#[test]
fn unknown_table() {
    assert!(
        error("from = \"claims\"", "from = \"claim\"")
            .starts_with("t.toml:10:8: unknown table `claim`: expected one of persons, claims,")
    );
}

#[test]
fn unknown_parameter() {
    assert_eq!(
        error("params.min_age", "params.min_ag"),
        "t.toml:17:16: unknown parameter `params.min_ag`: did you mean `min_age`?"
    );
}

#[test]
fn type_mismatch() {
    assert_eq!(
        error("age >= params.min_age", "age >= 'old'"),
        "t.toml:17:9: cannot compare int with text"
    );
    assert_eq!(
        error("visits > 0", "not visits"),
        "t.toml:22:13: `not` needs a condition, found int"
    );
}

#[test]
fn a_condition_must_be_true_or_false() {
    assert_eq!(
        error("visits > 0", "visits"),
        "t.toml:22:9: expected a condition (true/false), found a value of type int"
    );
}

#[test]
fn bad_window() {
    assert_eq!(
        error(
            "last_days(start_date, params.window)",
            "last_days(start_date, -5)"
        ),
        "t.toml:11:33: bad window: `last_days` needs 0 or more days, found -5"
    );
    assert_eq!(
        error(
            "last_days(start_date, params.window)",
            "last_days(start_date, visits)"
        ),
        "t.toml:11:55: unknown column `visits` of table `claims`"
    );
}

#[test]
fn cycle_between_derived_values() {
    let text = BASE.replace(
        "[ranking]",
        "[derived]\na = \"b + 1\"\nb = \"a + 1\"\n\n[ranking]",
    );
    let err = balgul::rules::check_text(Path::new("t.toml"), &text, as_of())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err.lines().next().unwrap(),
        "t.toml:25:1: a cycle between derived values: a, b depend on each other"
    );
}

#[test]
fn unknown_function_and_aggregation() {
    assert_eq!(
        error("last_days(start_date", "last_day(start_date"),
        "t.toml:11:33: unknown function `last_day`: did you mean `last_days`?"
    );
    assert!(
        error("agg = \"count()\"", "agg = \"total()\"")
            .starts_with("t.toml:12:8: unknown aggregation `total`")
    );
}

#[test]
fn latest_needs_an_order() {
    assert!(
        error("agg = \"count()\"", "agg = \"latest(start_date)\"")
            .starts_with("t.toml:12:8: `latest` needs `order_by")
    );
}

#[test]
fn a_parameter_with_no_value_in_force() {
    let e = balgul::rules::check_text(
        Path::new("t.toml"),
        BASE,
        NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        e.lines().next().unwrap(),
        "t.toml:7:10: params.window has no value in force at 2025-12-31: its earliest `from` is later"
    );
}

#[test]
fn syntax_error_inside_an_expression() {
    assert_eq!(
        error("visits > 0", "visits > 0 && age > 70"),
        "t.toml:22:20: `&&` is not an operator here: use `and`"
    );
}

#[test]
fn the_message_shows_the_line_and_a_caret() {
    let text = BASE.replacen("visits > 0", "visit > 0", 1);
    let err = balgul::rules::check_text(Path::new("t.toml"), &text, as_of())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("22 │ when = \"visit > 0\""), "{err}");
    assert!(err.contains("──┬──"), "{err}");
}

#[test]
fn the_default_rule_set_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.toml");
    let rs = balgul::rules::load(&path, as_of()).unwrap();
    assert_eq!(rs.name, "policy-v1");
    assert_eq!(rs.cap, 300);
    let ids: Vec<&str> = rs.cohorts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "RECENT_DISCHARGE",
            "OUT_OF_GRADE_AB",
            "LTC_PENDING",
            "INHOME_LTC"
        ]
    );
    let base: Vec<&str> = rs.base.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(base, ["B1", "B2", "B3", "B4", "B5"]);
}

#[test]
fn invalid_rules_exit_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, BASE.replace("visits > 0", "visit > 0")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_balgul"))
        .args(["check", "--rules"])
        .arg(&path)
        .args(["--as-of", "2026-10-31"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!(
            "error: {}:22:9: unknown name `visit`",
            path.display()
        )),
        "{stderr}"
    );
}
