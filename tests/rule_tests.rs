//! `balgul test`: the rule tests shipped in rules/tests/ pass, and a wrong expectation fails
//! with the expected and actual outcome and the explain trace.

use std::path::{Path, PathBuf};

use balgul::ruletest;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[test]
fn the_rule_tests_in_rules_tests_pass() {
    let files = ruletest::collect(&[root().join("rules/tests")]).unwrap();
    // One file per part of policy-v1: §1, §2, each cohort of §3, §4, §5, §6.
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for part in [
        "base_population",
        "condition_groups",
        "recent_discharge",
        "cohort_out_of_grade",
        "cohort_ltc_pending",
        "cohort_inhome_ltc",
        "suppression",
        "score_terms",
        "ranking",
    ] {
        assert!(
            names.iter().any(|n| n == part),
            "rules/tests/{part}.toml is missing"
        );
    }
    let results: Vec<_> = files
        .iter()
        .map(|f| ruletest::run_file(f).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let text = ruletest::render(&results);
    assert!(ruletest::all_passed(&results), "{text}");
}

/// A test file in a temporary directory next to a copy of the default rules.
fn test_file(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    let rules = root().join("rules/default.toml");
    std::fs::write(
        &path,
        format!(
            "rules = \"{}\"\nas_of = \"2026-10-31\"\n{body}",
            rules.display()
        ),
    )
    .unwrap();
    (dir, path)
}

const PERSON_72: &str = r#"
[[case]]
name = "a pending application"
[case.tables]
persons = """
person_id,birth_year,sex,sgg_code,insurance_type,income_decile,disability,death_date
P1,1954,F,11110,NHI,5,false,
"""
ltc_assessments = """
application_id,person_id,application_date,status,decision_date,grade,score,valid_until
A1,P1,2026-10-20,PENDING,,,,
"""
"#;

#[test]
fn a_wrong_expectation_fails_with_expected_actual_and_the_trace() {
    let (_d, path) = test_file(&format!(
        "{PERSON_72}[[case.expect]]\nperson = \"P1\"\nscore = 99\ncohorts = [\"LTC_PENDING\"]\n"
    ));
    let r = ruletest::run_file(&path).unwrap();
    assert!(!ruletest::all_passed(std::slice::from_ref(&r)));
    let text = ruletest::render(&[r]);
    assert!(text.contains("  FAIL  a pending application"), "{text}");
    assert!(text.contains("P1: expected score 99, got 15"), "{text}");
    assert!(
        text.contains("actual: listed at rank 1, score 15, cohorts [LTC_PENDING]"),
        "{text}"
    );
    assert!(
        text.contains("LTC_PENDING            in "),
        "the trace: {text}"
    );
    assert!(text.ends_with("1 files, 1 cases (1 person expectations): 0 passed, 1 failed\n"));
}

#[test]
fn the_same_case_with_the_right_expectation_passes() {
    let (_d, path) = test_file(&format!(
        "{PERSON_72}[[case.expect]]\nperson = \"P1\"\nlisted = true\nrank = 1\nscore = 15\ncohorts = [\"LTC_PENDING\"]\n"
    ));
    let r = ruletest::run_file(&path).unwrap();
    assert!(
        ruletest::all_passed(std::slice::from_ref(&r)),
        "{}",
        ruletest::render(&[r])
    );
}

#[test]
fn an_unknown_key_in_an_expectation_is_refused() {
    let (_d, path) = test_file(&format!(
        "{PERSON_72}[[case.expect]]\nperson = \"P1\"\nscroe = 15\n"
    ));
    let e = ruletest::run_file(&path).unwrap_err().to_string();
    assert!(e.contains("unknown field `scroe`"), "{e}");
}

#[test]
fn an_unknown_table_is_refused_with_the_contract_tables() {
    let (_d, path) = test_file(
        "[[case]]\nname = \"x\"\n[case.tables]\nclaim = \"\"\"\na\n\"\"\"\n[[case.expect]]\nperson = \"P1\"\n",
    );
    let e = ruletest::run_file(&path).unwrap_err().to_string();
    assert!(
        e.contains("case `x`: no table `claim` in the data contract"),
        "{e}"
    );
    assert!(e.contains("claims"), "{e}");
}

#[test]
fn a_person_missing_from_the_case_is_a_failure_not_a_pass() {
    let (_d, path) = test_file(&format!(
        "{PERSON_72}[[case.expect]]\nperson = \"NOBODY\"\nlisted = false\n"
    ));
    let r = ruletest::run_file(&path).unwrap();
    let text = ruletest::render(std::slice::from_ref(&r));
    assert!(!ruletest::all_passed(&[r]));
    assert!(text.contains("NOBODY: no such person"), "{text}");
}

#[test]
fn a_params_override_changes_the_clause_it_feeds() {
    // Two candidates tied at 15 points; a cap of 1 leaves the second off the list.
    let body = r#"
params = { cap = 1 }
[[case]]
name = "cap 1"
[case.tables]
persons = """
person_id,birth_year,sex,sgg_code,insurance_type,income_decile,disability,death_date
P1,1954,F,11110,NHI,5,false,
P2,1954,F,11110,NHI,5,false,
"""
ltc_assessments = """
application_id,person_id,application_date,status,decision_date,grade,score,valid_until
A1,P1,2026-10-20,PENDING,,,,
A2,P2,2026-10-20,PENDING,,,,
"""
[[case.expect]]
person = "P1"
rank = 1
[[case.expect]]
person = "P2"
excluded_by = "cap"
"#;
    let (_d, path) = test_file(body);
    let r = ruletest::run_file(&path).unwrap();
    assert!(
        ruletest::all_passed(std::slice::from_ref(&r)),
        "{}",
        ruletest::render(&[r])
    );
    // A case's override wins over the file's: with cap 2 both are listed.
    let (_d, path) =
        test_file(&body.replace("name = \"cap 1\"", "name = \"cap 1\"\nparams = { cap = 2 }"));
    let r = ruletest::run_file(&path).unwrap();
    let text = ruletest::render(std::slice::from_ref(&r));
    assert!(
        text.contains("P2: expected listed = false, got true"),
        "{text}"
    );
}

#[test]
fn a_params_override_of_an_unknown_name_or_another_type_is_refused() {
    let (_d, path) = test_file(&format!(
        "params = {{ caps = 2 }}\n{PERSON_72}[[case.expect]]\nperson = \"P1\"\n"
    ));
    let e = ruletest::run_file(&path).unwrap_err().to_string();
    assert!(
        e.contains("the override params.caps names no parameter of the rule set"),
        "{e}"
    );
    assert!(e.contains("cap, "), "the known parameters are listed: {e}");
    let (_d, path) = test_file(&format!(
        "params = {{ cap = \"2\" }}\n{PERSON_72}[[case.expect]]\nperson = \"P1\"\n"
    ));
    let e = ruletest::run_file(&path).unwrap_err().to_string();
    assert!(e.contains("the override params.cap"), "{e}");
    assert!(e.contains("has another type"), "{e}");
}
