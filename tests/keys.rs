//! Duplicate keys and orphan rows (the contract's rules between rows): every row of a
//! repeated key and every row whose `person_id` or `claim_id` is not a kept row of its parent
//! is set aside with its reason, counted in the manifest, and the clean rows give the lists.
//! The hashed and multi-pass strategies used on large extracts find exactly what the
//! anti-join finds on small ones.

mod common;

use std::path::Path;

use balgul::extract::Extract;
use balgul::validate::{self, KeyLimits};
use common::build::*;
use common::{balgul, text};
use polars::prelude::*;

/// Five people in 11110 mid-way through an LTC application, and one defect of each kind
/// between rows:
/// - DUP has two persons rows;
/// - A has a claim CDUP written twice, with a diagnosis on it;
/// - B has a diagnosis on a claim that does not exist (CNONE) and one on a claim set aside for
///   a negative cost (CNEG);
/// - GHOST (no persons row) has a claim, a diagnosis on it and a programme event;
/// - C's only application has its application_id written twice (so C is no longer pending);
/// - D has the same month and service twice in ltc_services.
fn keyed_extract(dir: &Path) {
    let mut b = Build::new();
    for p in ["A", "B", "C", "D"] {
        b.person(p, 75, "11110");
    }
    b.pending("A").pending("B").pending("D");
    b.ltc_raw(&format!("APPC,C,{},PENDING,,,,", d(-10)));
    b.ltc_raw(&format!("APPC,C,{},PENDING,,,,", d(-9)));
    b.person("DUP", 80, "11110")
        .person("DUP", 81, "11110")
        .pending("DUP");
    let day = d(-20);
    for _ in 0..2 {
        b.claims_raw(&format!("CDUP,A,H1,31,OUT,{day},{day},1000"));
    }
    b.dx_raw("CDUP,A,I10,1");
    b.visit_dx("B", &day, "I10");
    b.dx_raw("CNONE,B,I10,1");
    b.claims_raw(&format!("CNEG,B,H1,31,OUT,{day},{day},-5"));
    b.dx_raw("CNEG,B,E11,1");
    b.claims_raw(&format!("CGHOST,GHOST,H1,31,OUT,{day},{day},1000"));
    b.dx_raw("CGHOST,GHOST,I10,1");
    b.program("GHOST", "11110", &month(1), "SENT");
    b.service("D", &month(1), "HOME_CARE");
    b.service("D", &month(1), "HOME_CARE");
    b.service("D", &month(2), "HOME_CARE");
    b.write(dir);
}

/// `balgul run` of the default rules on `data` into `out`, with one more flag.
fn run_default(data: &Path, out: &Path, flag: &str) -> std::process::Output {
    let rules = default_rules();
    balgul(&[
        "run",
        "--data",
        data.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        flag,
    ])
}

fn reasons(out: &Path, table: &str) -> Vec<(String, String)> {
    let body = std::fs::read_to_string(out.join(format!("quarantine/{table}.csv")))
        .unwrap_or_else(|e| panic!("quarantine/{table}.csv: {e}"));
    body.lines()
        .skip(1)
        .map(|l| {
            let first = l.split(',').next().unwrap().to_string();
            let last = l.rsplit(',').next().unwrap().to_string();
            (first, last)
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn repeated_keys_and_orphans_are_set_aside_with_their_reason() {
    let data = tempfile::tempdir().unwrap();
    keyed_extract(data.path());
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let res = run_default(data.path(), &out, "--max-bad-rows=100%");
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));

    assert_eq!(
        reasons(&out, "persons"),
        pairs(&[("DUP", "duplicate_key"), ("DUP", "duplicate_key")])
    );
    // Scan order; CNEG breaks a row rule, GHOST's claim has no person, CDUP repeats.
    assert_eq!(
        reasons(&out, "claims"),
        pairs(&[
            ("CDUP", "duplicate_key"),
            ("CDUP", "duplicate_key"),
            ("CNEG", "negative:cost_krw"),
            ("CGHOST", "orphan:person_id"),
        ])
    );
    // A diagnosis on a claim that is absent or set aside no longer counts: it is said so.
    assert_eq!(
        reasons(&out, "diagnoses"),
        pairs(&[
            ("CDUP", "orphan:claim_id"),
            ("CNONE", "orphan:claim_id"),
            ("CNEG", "orphan:claim_id"),
            ("CGHOST", "orphan:claim_id"),
        ])
    );
    // DUP's application is an orphan once both of DUP's persons rows are set aside.
    let ltc = reasons(&out, "ltc_assessments");
    assert_eq!(ltc.len(), 3, "{ltc:?}");
    assert_eq!(
        ltc.iter().filter(|(_, r)| r == "duplicate_key").count(),
        2,
        "{ltc:?}"
    );
    assert_eq!(
        ltc.iter().filter(|(_, r)| r == "orphan:person_id").count(),
        1,
        "{ltc:?}"
    );
    assert_eq!(
        reasons(&out, "ltc_services"),
        pairs(&[("D", "duplicate_key"), ("D", "duplicate_key")])
    );
    assert_eq!(
        reasons(&out, "program_history"),
        pairs(&[("GHOST", "orphan:person_id")])
    );

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let q = m["rows_set_aside"].as_array().unwrap();
    let claims = q.iter().find(|t| t["table"] == "claims").unwrap();
    assert_eq!(claims["rows"], 5);
    assert_eq!(claims["rows_set_aside"], 4);
    let rules = common::rules_rows(claims);
    assert_eq!(
        rules,
        [
            ("negative:cost_krw".to_string(), 1),
            ("orphan:person_id".to_string(), 1),
            ("duplicate_key".to_string(), 2)
        ]
    );

    // A, B and D are listed; C (its only application set aside) and DUP are not.
    let list = std::fs::read_to_string(out.join("candidates.csv")).unwrap();
    let mut ids: Vec<&str> = list
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["A", "B", "D"]);
}

#[test]
fn strict_stops_at_a_repeated_claim_id_with_exit_3() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("A", 75, "11110").pending("A");
    let day = d(-20);
    for _ in 0..2 {
        b.claims_raw(&format!("CDUP,A,H1,31,OUT,{day},{day},1000"));
    }
    b.write(data.path());
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let res = run_default(data.path(), &out, "--strict");
    assert_eq!(res.status.code(), Some(3), "{}", text(&res));
    let msg = text(&res);
    assert!(
        msg.contains("claims: 2 rows break the rule `duplicate_key`"),
        "{msg}"
    );
    assert!(msg.contains("row 1: claim_id=CDUP"), "{msg}");
    assert!(msg.contains("row 2: claim_id=CDUP"), "{msg}");
    assert!(!out.exists());
}

/// What validation finds and keeps, table by table.
fn outcome(dir: &Path, limits: KeyLimits) -> Vec<(String, String, u64, u64)> {
    let mut ex = Extract::open(dir).unwrap();
    let as_of = ex.reference_date(None).unwrap();
    let found = validate::validate_with(&mut ex, as_of, limits).unwrap();
    let mut v = Vec::new();
    for s in found {
        for r in s.rules {
            let kept = ex.lazy(s.table).collect().unwrap().height() as u64;
            v.push((s.table.to_string(), r.rule, r.rows, kept));
        }
    }
    v
}

/// The (rule, rows, rows kept) of `table` in an [`outcome`].
fn rules_of(outcome: &[(String, String, u64, u64)], table: &str) -> Vec<(String, u64, u64)> {
    outcome
        .iter()
        .filter(|(t, ..)| t == table)
        .map(|(_, rule, rows, kept)| (rule.clone(), *rows, *kept))
        .collect()
}

/// Parents' kept hashes looked up during the child's row-rule scan, with no room for a missing
/// hash: every orphan check that finds one falls back to the anti-join (the parents are small).
const BY_JOIN: KeyLimits = KeyLimits {
    join_parent_max_rows: validate::keys::JOIN_PARENT_MAX_ROWS,
    pass_bytes: validate::keys::PASS_BYTES,
    probe_max_missing: 0,
};

/// Every parent checked by hashes, in one pass (no parent counts as small: a lookup that gives
/// up falls back to a merge of hashes, not to the anti-join).
const BY_HASHES: KeyLimits = KeyLimits {
    join_parent_max_rows: 0,
    pass_bytes: 1 << 30,
    probe_max_missing: validate::keys::PROBE_MAX_MISSING,
};

#[test]
fn probed_hashed_and_multi_pass_key_checks_find_exactly_what_the_anti_join_finds() {
    let data = tempfile::tempdir().unwrap();
    keyed_extract(data.path());
    let by_join = outcome(data.path(), BY_JOIN);
    assert_eq!(by_join.len(), 9, "{by_join:#?}");
    // The parents' kept hashes looked up in the child's row-rule scan (the persons' for
    // every table; the claims' for the diagnoses) ...
    assert_eq!(outcome(data.path(), KeyLimits::default()), by_join);
    // ... every parent checked by hashes, one pass (claims' keys hashed during their row-rule
    // scan: CGHOST's, set aside afterwards as an orphan, must not count as kept for its
    // diagnosis; the diagnoses' claim ids looked up in them during their own scan) ...
    assert_eq!(outcome(data.path(), BY_HASHES), by_join);
    // ... the same with no room for a missing hash in the lookup, which then gives up and
    // the child's hashes are taken by a scan of their own ...
    let no_room = KeyLimits {
        probe_max_missing: 0,
        ..BY_HASHES
    };
    assert_eq!(outcome(data.path(), no_room), by_join);
    // ... and by hashes in passes of two rows each (8 passes over 10 claims).
    let passes = outcome(
        data.path(),
        KeyLimits {
            join_parent_max_rows: 0,
            pass_bytes: 16,
            ..KeyLimits::default()
        },
    );
    assert_eq!(passes, by_join);
}

#[test]
fn a_clean_extract_has_no_repeated_key_and_no_orphan_by_any_strategy() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    for p in ["A", "B"] {
        b.person(p, 75, "11110").pending(p);
        b.visit_dx(p, &d(-3), "I10");
        b.dispense(p, &d(-3), &["101301ATB"]);
        b.service(p, &month(1), "HOME_CARE");
    }
    b.write(data.path());
    for limits in [
        KeyLimits::default(),
        KeyLimits {
            join_parent_max_rows: 0,
            pass_bytes: 16,
            ..KeyLimits::default()
        },
    ] {
        assert_eq!(outcome(data.path(), limits), vec![]);
    }
    let ex = Extract::open(data.path()).unwrap();
    let n = ex.lazy("diagnoses").select([len()]).collect().unwrap();
    assert_eq!(
        n.column("len").unwrap().get(0).unwrap().extract::<u32>(),
        Some(2)
    );
}

/// Diagnoses written for persons who are not in `persons`, on a claim that is: the persons'
/// kept key hashes are looked up during the diagnoses' row-rule scan (a missing hash then
/// confirmed on the text), and what the lookup finds is what the anti-join finds, row for row.
#[test]
fn orphan_persons_found_by_the_lookup_in_the_row_rule_scan_match_the_anti_join() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("A", 75, "11110").pending("A");
    let day = d(-20);
    b.visit_dx("A", &day, "I10");
    b.claims_raw(&format!("C9,A,H1,31,OUT,{day},{day},1000"));
    b.dx_raw("C9,NOBODY,I10,1");
    b.dx_raw("C9,NOBODY,E11,2");
    b.dx_raw("C9,ELSE,E11,3");
    b.write(data.path());
    let expected = vec![(
        "diagnoses".to_string(),
        "orphan:person_id".to_string(),
        3,
        1,
    )];
    assert_eq!(outcome(data.path(), KeyLimits::default()), expected);
    // Room for one missing key only: the lookup gives up on the second and the anti-join
    // counts them.
    let one = KeyLimits {
        probe_max_missing: 1,
        ..KeyLimits::default()
    };
    assert_eq!(outcome(data.path(), one), expected);
    assert_eq!(outcome(data.path(), BY_JOIN), expected);
    // The rows and reasons written: the same by either way.
    let out = tempfile::tempdir().unwrap();
    let o = run_default(data.path(), &out.path().join("o"), "--max-bad-rows=100%");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        reasons(&out.path().join("o"), "diagnoses"),
        pairs(&[
            ("C9", "orphan:person_id"),
            ("C9", "orphan:person_id"),
            ("C9", "orphan:person_id"),
        ])
    );
}

/// The claims' keys are hashed during their row-rule scan: a claim that scan sets aside must
/// not be among them, or a diagnosis on it would pass for one on a kept claim.
#[test]
fn hashed_parent_keys_leave_out_the_rows_the_row_rules_set_aside() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("A", 75, "11110").pending("A");
    let day = d(-20);
    b.visit_dx("A", &day, "I10");
    b.claims_raw(&format!("CNEG,A,H1,31,OUT,{day},{day},-5"));
    b.dx_raw("CNEG,A,E11,1");
    b.write(data.path());
    let expected = vec![
        ("claims".to_string(), "negative:cost_krw".to_string(), 1, 1),
        ("diagnoses".to_string(), "orphan:claim_id".to_string(), 1, 1),
    ];
    assert_eq!(outcome(data.path(), KeyLimits::default()), expected);
    assert_eq!(outcome(data.path(), BY_HASHES), expected);
}

/// Files of an output directory by name, `manifest.json` without its wall times.
fn output_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for sub in ["", "quarantine", "by-municipality"] {
        let d = dir.join(sub);
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if !p.is_file() {
                continue;
            }
            let name = format!("{sub}/{}", p.file_name().unwrap().to_string_lossy());
            let mut bytes = std::fs::read(&p).unwrap();
            if name == "/manifest.json" {
                let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                m.as_object_mut().unwrap().remove("wall_seconds");
                m.as_object_mut().unwrap().remove("peak_rss_bytes");
                bytes = serde_json::to_vec(&m).unwrap();
            }
            v.push((name, bytes));
        }
    }
    v.sort();
    v
}

/// A synthetic extract of 2,000 people (many morsels per table) with repeated claims, orphan
/// diagnoses and a repeated person: what is set aside, its reasons and the lists do not
/// depend on the number of threads (the key hashes are gathered in whatever order the threads
/// finish).
#[test]
fn set_aside_rows_and_lists_are_byte_identical_with_one_or_four_threads() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("x");
    let o = balgul(&[
        "synth",
        "--persons",
        "2000",
        "--seed",
        "3",
        "--as-of",
        "2026-10-31",
        "--min-age",
        "65",
        "--format",
        "csv",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let append = |table: &str, extra: &str| {
        let p = data.join(format!("{table}.csv"));
        let mut body = std::fs::read_to_string(&p).unwrap();
        body.push_str(extra);
        std::fs::write(&p, body).unwrap();
    };
    let claims = std::fs::read_to_string(data.join("claims.csv")).unwrap();
    let repeated: String = claims
        .lines()
        .skip(1)
        .step_by(997)
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(repeated.lines().count() > 50);
    append("claims", &repeated);
    let person = claims.lines().nth(1).unwrap().split(',').nth(1).unwrap();
    append(
        "diagnoses",
        &(0..20)
            .map(|i| format!("CNONE{i:04},{person},I10,1\n"))
            .collect::<String>(),
    );
    let persons = std::fs::read_to_string(data.join("persons.csv")).unwrap();
    append("persons", &format!("{}\n", persons.lines().nth(7).unwrap()));

    let rules = default_rules();
    let run = |threads: &str, out: &Path| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_balgul"))
            .args(["run", "--max-bad-rows", "100%", "--data"])
            .arg(&data)
            .arg("--rules")
            .arg(&rules)
            .arg("--out")
            .arg(out)
            .env("POLARS_MAX_THREADS", threads)
            .env("RAYON_NUM_THREADS", threads)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    };
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    run("1", &a);
    run("4", &b);
    let (fa, fb) = (output_files(&a), output_files(&b));
    let names: Vec<&str> = fa.iter().map(|(n, _)| n.as_str()).collect();
    for q in [
        "quarantine/claims.csv",
        "quarantine/diagnoses.csv",
        "quarantine/persons.csv",
    ] {
        assert!(names.contains(&q), "{names:?}");
    }
    assert_eq!(fa.len(), fb.len());
    for ((na, xa), (nb, xb)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(xa == xb, "{na} differs between 1 and 4 threads");
    }
}

/// `diff` and `explain` see the extract as `run` does: the rows it sets aside are left out
/// (and said), so a dry run of a rule change speaks of the lists a run would write.
#[test]
fn diff_and_explain_leave_out_the_rows_run_sets_aside() {
    let data = tempfile::tempdir().unwrap();
    keyed_extract(data.path());
    let rules = default_rules();
    let d = balgul(&[
        "diff",
        "--data",
        data.path().to_str().unwrap(),
        "--baseline",
        rules.to_str().unwrap(),
        "--self-check",
    ]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));
    let out = text(&d);
    // A, B and D, as `run` lists (DUP's persons rows and C's application are set aside).
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("listed") && l.ends_with(" 3 → 3")),
        "{out}"
    );
    assert!(
        out.contains("left out, as `run` would set them aside: 4 of 5 claims rows (1 negative:cost_krw, 1 orphan:person_id, 2 duplicate_key)"),
        "{out}"
    );
    let e = balgul(&[
        "explain",
        "--data",
        data.path().to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--person",
        "C",
    ]);
    assert_eq!(e.status.code(), Some(0), "{}", text(&e));
    // C's only application was written twice: both rows are set aside, so C is not pending.
    let out = text(&e);
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("pending_since") && l.contains(" —")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("LTC_PENDING") && l.contains(" out ")),
        "{out}"
    );
}

/// The score of each person listed, by person.
fn scores(s: &balgul::screen::Screening) -> Vec<(String, f64)> {
    let l = &s.listed;
    let ids = l.column("person_id").unwrap().str().unwrap().clone();
    let score = l.column("score").unwrap().cast(&DataType::Float64).unwrap();
    let score = score.f64().unwrap();
    let mut v: Vec<(String, f64)> = ids
        .iter()
        .zip(score.iter())
        .map(|(p, s)| (p.unwrap().to_string(), s.unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Diagnoses take their claim's date through a join on `claim_id`; once validation has found
/// the claim ids' hashes distinct the join is on the hashes. Day R−365 is out of the 365-day
/// window, R−364 and R in, R+1 after R: the hashed join and the text join (an extract not
/// validated) must agree person for person, and with the window.
#[test]
fn the_join_on_claim_id_hashes_lists_what_the_join_on_the_text_lists() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    for (p, day) in [("A", -364), ("B", -365), ("C", 0), ("D", 1)] {
        b.person(p, 75, "11110").pending(p);
        b.visit_dx(p, &d(day), "F001");
        b.visit_dx(p, &d(-3), "J00");
    }
    b.write(data.path());
    let rs = balgul::rules::load(&default_rules(), r()).unwrap();
    let mut validated = Extract::open(data.path()).unwrap();
    assert!(validate::validate(&mut validated, r()).unwrap().is_empty());
    assert!(validated.table("claims").key_hashes_distinct());
    let unvalidated = Extract::open(data.path()).unwrap();
    assert!(!unvalidated.table("claims").key_hashes_distinct());
    let hashed = scores(&balgul::screen::run(&validated, &rs).unwrap());
    let by_text = scores(&balgul::screen::run(&unvalidated, &rs).unwrap());
    assert_eq!(hashed, by_text);
    let score = |p: &str| hashed.iter().find(|(q, _)| q == p).unwrap().1;
    assert_eq!(hashed.len(), 4, "{hashed:?}");
    assert_eq!(score("A"), score("C"));
    assert_eq!(score("B"), score("D"));
    assert!(score("A") > score("B"), "{hashed:?}");
}

/// A repeated claim id: its hash repeats, so the claims' key hashes are not taken as distinct
/// and the diagnoses join their claims on the text.
#[test]
fn a_repeated_claim_id_keeps_the_join_on_the_text() {
    let data = tempfile::tempdir().unwrap();
    keyed_extract(data.path());
    let mut ex = Extract::open(data.path()).unwrap();
    validate::validate(&mut ex, r()).unwrap();
    assert!(!ex.table("claims").key_hashes_distinct());
    // The same for the other tables with a repeated key; a table without a key has none.
    assert!(!ex.table("persons").key_hashes_distinct());
    assert!(!ex.table("ltc_assessments").key_hashes_distinct());
    assert!(!ex.table("diagnoses").key_hashes_distinct());
}

/// The person frame of `rules` on `data` (validated), sorted by person, with the diagnoses
/// joined to their claims in passes of at most `rows_per_pass` diagnoses (`None`: one plan).
fn person_frame(data: &Path, rules: &Path, rows_per_pass: Option<u64>) -> DataFrame {
    let rs = balgul::rules::load(rules, r()).unwrap();
    let mut ex = Extract::open(data).unwrap();
    assert!(validate::validate(&mut ex, r()).unwrap().is_empty());
    assert!(ex.table("claims").key_hashes_distinct());
    balgul::plan::person_frame_with(&ex, &rs, rows_per_pass)
        .unwrap()
        .sort(["person_id"], SortMultipleOptions::default())
        .collect()
        .unwrap()
}

/// On a large extract the diagnoses–claims join runs in passes, each over the claims of one
/// share of the claim-id hashes, and the features' values per person are combined across
/// passes. A person's diagnoses spread over several passes must give exactly the values of one
/// pass: counts and sums added, flags ORed, extremes kept, code sets recounted. Dates at
/// R−365 (out of the window), R−364, R (in) and R+1 (after R).
#[test]
fn the_diagnoses_join_in_passes_gives_the_values_of_one_pass() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    for p in ["A", "B", "C", "D", "E"] {
        b.person(p, 78, "11110").pending(p);
    }
    b.diagnoses_across_the_window();
    // E: no diagnosis at all.
    b.write(data.path());
    let (_dir, rules) = rules_with_dx_features_of_every_kind();
    let one = person_frame(data.path(), &rules, None);
    for per_pass in [1, 2, 5] {
        let passes = person_frame(data.path(), &rules, Some(per_pass));
        assert!(
            one.equals_missing(&passes),
            "{per_pass} a pass:\n{one}\n{passes}"
        );
    }
    // And the values are the window's.
    let int = |p: &str, c: &str| person_int(&one, p, c);
    assert_eq!(int("A", "conditions"), Some(3));
    assert_eq!(int("A", "dx_rows"), Some(4));
    assert_eq!(int("A", "dx_orders"), Some(5));
    assert_eq!(int("B", "conditions"), Some(0));
    assert_eq!(int("B", "dx_rows"), Some(1));
    assert_eq!(int("C", "conditions"), Some(1));
    assert_eq!(int("D", "conditions"), Some(3));
    assert_eq!(int("D", "dx_orders"), Some(6));
    assert_eq!(int("E", "conditions"), Some(0));
    assert_eq!(int("E", "dx_rows"), Some(0));
}

/// A child's key checked against a parent's hashes is hashed once per run of equal keys in its
/// scan (its distinct values are what the check needs). Runs, a key coming back after another,
/// an orphan key in two runs, and a row set aside by a row rule inside a run: the same orphans,
/// row for row, as the anti-join.
#[test]
fn child_keys_in_runs_and_scattered_find_the_orphans_the_anti_join_finds() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("A", 75, "11110").pending("A");
    b.person("B", 76, "11110").pending("B");
    let day = d(-20);
    b.claims_raw(&format!("C1,A,H1,31,OUT,{day},{day},1000"));
    b.claims_raw(&format!("C2,B,H1,31,OUT,{day},{day},1000"));
    for row in [
        "C1,A,I10,1",
        "C1,A,i10,2",
        "C1,A,E11,3",
        "C2,B,I10,1",
        "CX,A,I10,1",
        "CX,A,E11,2",
        "C1,A,F001,4",
        "CX,A,F001,3",
        "C2,B,E11,2",
    ] {
        b.dx_raw(row);
    }
    b.write(data.path());
    let by_join = outcome(data.path(), BY_JOIN);
    let dx = rules_of(&by_join, "diagnoses");
    // One malformed code, three rows on the claim that does not exist; five rows kept.
    assert_eq!(dx.len(), 2, "{by_join:#?}");
    assert_eq!((dx[0].1, dx[1].1), (1, 3), "{dx:?}");
    assert!(dx[1].0.starts_with("orphan:claim_id"), "{dx:?}");
    assert_eq!(dx[1].2, 5);
    assert_eq!(outcome(data.path(), BY_HASHES), by_join);
}

/// The same with keys longer than 12 bytes, which Arrow stores apart from their views: equal
/// keys in a run are compared by their text, and an orphan that shares its length and first
/// four bytes with the key before it (`CLAIM-2026-00000X` after `CLAIM-2026-000001`) is
/// still a new key.
#[test]
fn long_child_keys_in_runs_find_the_orphans_the_anti_join_finds() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("PERSON-0000000A", 75, "11110")
        .pending("PERSON-0000000A");
    b.person("PERSON-0000000B", 76, "11110")
        .pending("PERSON-0000000B");
    let day = d(-20);
    let (c1, c2, cx) = (
        "CLAIM-2026-000001",
        "CLAIM-2026-000002",
        "CLAIM-2026-00000X",
    );
    let (a, bb) = ("PERSON-0000000A", "PERSON-0000000B");
    b.claims_raw(&format!("{c1},{a},H1,31,OUT,{day},{day},1000"));
    b.claims_raw(&format!("{c2},{bb},H1,31,OUT,{day},{day},1000"));
    for row in [
        format!("{c1},{a},I10,1"),
        format!("{c1},{a},E11,2"),
        format!("{cx},{a},I10,1"),
        format!("{cx},{a},E11,2"),
        format!("{c1},{a},F001,3"),
        format!("{c2},{bb},I10,1"),
        format!("{c2},PERSON-0000000Z,E11,2"),
        format!("{c2},{bb},E11,3"),
    ] {
        b.dx_raw(&row);
    }
    b.write(data.path());
    let by_join = outcome(data.path(), BY_JOIN);
    let dx = rules_of(&by_join, "diagnoses");
    // Two rows on the claim that does not exist, a person that does not exist on one row;
    // five rows kept.
    assert_eq!(dx.len(), 2, "{by_join:#?}");
    assert!(dx[0].0.starts_with("orphan:claim_id"), "{dx:?}");
    assert!(dx[1].0.starts_with("orphan:person_id"), "{dx:?}");
    assert_eq!((dx[0].1, dx[1].1), (2, 1), "{dx:?}");
    assert_eq!(dx[1].2, 5);
    assert_eq!(outcome(data.path(), BY_HASHES), by_join);
}
