//! `balgul diff`: a rule set against itself is exactly zero at every level; a one-parameter
//! edit yields exactly the entrants a hand-built extract predicts, with their cause.

mod common;

use balgul::extract::Extract;
use common::build::*;

fn diff(b: &Build, baseline: &std::path::Path, candidate: &std::path::Path) -> balgul::diff::Diff {
    let dir = tempfile::tempdir().unwrap();
    b.write(dir.path());
    let ex = Extract::open(dir.path()).unwrap();
    let rb = balgul::rules::load(baseline, r()).unwrap();
    let ra = balgul::rules::load(candidate, r()).unwrap();
    let (sb, sa) = balgul::screen::run_pair(&ex, &rb, &ra).unwrap();
    balgul::diff::compare(&rb, &sb, &ra, &sa, 0.1).unwrap()
}

#[test]
fn a_rule_set_against_itself_is_exactly_zero() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let ex = Extract::open(&root.join("fixtures/sample")).unwrap();
    let rs = balgul::rules::load(&default_rules(), r()).unwrap();
    let a = balgul::screen::run(&ex, &rs).unwrap();
    let b = balgul::screen::run(&ex, &rs).unwrap();
    let d = balgul::diff::compare(&rs, &a, &rs, &b, 0.1).unwrap();
    assert!(d.is_zero());
    assert_eq!(
        (d.totals.entrants, d.totals.leavers, d.totals.rank_moves),
        (0, 0, 0)
    );
    assert_eq!(d.totals.listed_before, d.totals.listed_after);
    assert_eq!(d.totals.unchanged, d.totals.listed_before);
    assert!(d.people.is_empty());
    assert!(
        d.municipalities.iter().all(|m| m.entrants == 0
            && m.leavers == 0
            && !m.flagged
            && m.overlap == m.listed_before)
    );
    assert!(
        d.cohorts
            .iter()
            .all(|c| c.persons_eligible_before == c.persons_eligible_after
                && c.persons_listed_before == c.persons_listed_after)
    );
    assert_eq!(d.funnel_before, d.funnel_after);
    assert_eq!(d.score_quantiles_before, d.score_quantiles_after);
}

#[test]
fn discharge_window_60_to_90_days_adds_exactly_the_predicted_entrants() {
    let mut b = Build::new();
    // (person, municipality, discharge day relative to R): 20-day stays at a 종합병원.
    let stays = [
        ("IN_BOTH", "11110", -59),
        ("NEW_A", "11110", -60),
        ("NEW_B", "45110", -89),
        ("NEW_C", "45110", -75),
        ("NEITHER", "45110", -90),
    ];
    for (p, sgg, end) in stays {
        b.person(p, 70, sgg);
        b.stay(p, "11", &d(end - 20), Some(&d(end)));
    }
    let (_dir, candidate) = edited_rules(
        "discharge_window_days = { value = 60,",
        "discharge_window_days = { value = 90,",
    );
    let d = diff(&b, &default_rules(), &candidate);
    assert_eq!((d.totals.listed_before, d.totals.listed_after), (1, 4));
    assert_eq!((d.totals.entrants, d.totals.leavers), (3, 0));
    let entrants: Vec<(&str, &str)> = d
        .people
        .iter()
        .filter(|p| p.change == "entered")
        .map(|p| (p.person_id.as_str(), p.sgg_code.as_str()))
        .collect();
    assert_eq!(
        entrants,
        [("NEW_A", "11110"), ("NEW_B", "45110"), ("NEW_C", "45110")]
    );
    let per: Vec<(&str, u64, u64, u64, u64)> = d
        .municipalities
        .iter()
        .map(|m| {
            (
                m.sgg_code.as_str(),
                m.listed_before,
                m.listed_after,
                m.entrants,
                m.overlap,
            )
        })
        .collect();
    assert_eq!(per, [("45110", 0, 2, 2, 0), ("11110", 1, 2, 1, 1)]);
    assert_eq!(
        d.causes_entrants.get("now in cohort RECENT_DISCHARGE"),
        Some(&3)
    );
    assert!(d.causes_leavers.is_empty());
    // IN_BOTH scored 40 and keeps rank 1 in 11110; NEW_A (same score) ranks after it by id.
    let new_a = d.people.iter().find(|p| p.person_id == "NEW_A").unwrap();
    assert_eq!((new_a.rank_after, new_a.score_after), (Some(2), 40));
}

#[test]
fn raising_the_minimum_age_names_the_criterion_that_now_fails() {
    let mut b = Build::new();
    b.person("P66", 66, "11110").pending("P66");
    b.person("P72", 72, "11110").pending("P72");
    let (_dir, candidate) = edited_rules("min_age = { value = 65,", "min_age = { value = 70,");
    let d = diff(&b, &default_rules(), &candidate);
    assert_eq!(
        (d.totals.entrants, d.totals.leavers, d.totals.rank_moves),
        (0, 1, 1)
    );
    assert_eq!(d.causes_leavers.get("base B1 now fails"), Some(&1));
    let csv = balgul::diff::people_csv(&d);
    assert_eq!(
        csv,
        "person_id,sgg_code,change,rank_before,rank_after,score_before,score_after,cause\n\
         P66,11110,left,1,,15,15,base B1 now fails\n\
         P72,11110,moved,2,1,15,15,others entered or left above (same score)\n"
    );
}

/// Against the cap, the cause of a move is the score term whose points changed, with both
/// values — not just two totals.
#[test]
fn a_score_edit_against_the_cap_names_the_term_that_moved() {
    let mut b = Build::new();
    // Both pending (15 points); OLD is 86 (+20 for age), YOUNG is 76 (+10).
    b.person("OLD", 86, "11110").pending("OLD");
    b.person("YOUNG", 76, "11110").pending("YOUNG");
    let cap = ("cap = { value = 300,", "cap = { value = 1,");
    let (_d1, baseline) = edited_rules_many(&[cap]);
    let (_d2, candidate) = edited_rules_many(&[
        cap,
        ("pts_age_85 = { value = 20,", "pts_age_85 = { value = 5,"),
    ]);
    let d = diff(&b, &baseline, &candidate);
    assert_eq!((d.totals.entrants, d.totals.leavers), (1, 1));
    let csv = balgul::diff::people_csv(&d);
    assert_eq!(
        csv,
        "person_id,sgg_code,change,rank_before,rank_after,score_before,score_after,cause\n\
         OLD,11110,left,1,,35,20,score term AGE +20 → +5 (rank against the cap)\n\
         YOUNG,11110,entered,,1,25,25,others entered or left above (same score)\n"
    );
}

/// `diff` scans the extract once for both rule sets; a feature the candidate defines
/// differently under the same name (here the diagnosis window, the polypharmacy window and
/// the discharge window) must still be computed its own way. On the 3,000-person sample,
/// the pair gives exactly what two separate runs give.
#[test]
fn one_scan_for_two_rule_sets_equals_two_separate_runs() {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let ex = Extract::open(&sample).unwrap();
    let baseline = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.toml");
    for (from, to) in [
        (
            "dx_window_days = { value = 365,",
            "dx_window_days = { value = 90,",
        ),
        (
            "polypharmacy_window_days = { value = 90,",
            "polypharmacy_window_days = { value = 30,",
        ),
        (
            "discharge_window_days = { value = 60,",
            "discharge_window_days = { value = 90,",
        ),
    ] {
        let (_dir, candidate) = edited_rules(from, to);
        let rb = balgul::rules::load(&baseline, r()).unwrap();
        let ra = balgul::rules::load(&candidate, r()).unwrap();
        let (pb, pa) = balgul::screen::run_pair(&ex, &rb, &ra).unwrap();
        let sb = balgul::screen::run(&ex, &rb).unwrap();
        let sa = balgul::screen::run(&ex, &ra).unwrap();
        assert!(pb.listed.equals_missing(&sb.listed), "baseline after {to}");
        assert!(pa.listed.equals_missing(&sa.listed), "candidate after {to}");
        let by_person =
            |df: &polars::prelude::DataFrame| df.sort(["person_id"], Default::default()).unwrap();
        assert!(
            by_person(&pa.flags).equals_missing(&by_person(&sa.flags)),
            "candidate flags after {to}"
        );
        assert_eq!(pa.attrition, sa.attrition, "funnel after {to}");
        assert!(
            !pa.listed.equals_missing(&pb.listed),
            "the edit {to} changes the sample's lists, so the test can fail"
        );
    }
}

/// The HTML report is one self-contained page: no script, nothing fetched, the two funnels
/// and the per-municipality bars drawn inline, and text from rule files escaped.
#[test]
fn the_html_report_is_self_contained_and_holds_the_numbers() {
    let mut b = Build::new();
    b.person("IN_BOTH", 70, "11110");
    b.stay("IN_BOTH", "11", &d(-79), Some(&d(-59)));
    b.person("NEW_A", 70, "45110");
    b.stay("NEW_A", "11", &d(-95), Some(&d(-75)));
    let (_dir, candidate) = edited_rules(
        "discharge_window_days = { value = 60,",
        "discharge_window_days = { value = 90,",
    );
    let d = diff(&b, &default_rules(), &candidate);
    let html = balgul::diff::html::render(&d);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    for banned in ["<script", "http://", "https://", "<link", "@import", "src="] {
        assert!(
            !html.contains(banned),
            "the page must not load anything: {banned}"
        );
    }
    // Two SVG charts: the funnel and the municipalities.
    assert_eq!(html.matches("<svg").count(), 2);
    // The funnel's last step, before and after, and the entrant bar for 45110.
    assert!(html.contains("<td>1</td><td>2</td>"), "listed 1 → 2");
    assert!(html.contains(">+1</text>"));
    // 45110 goes from 0 to 1 listed: over the 10 % threshold, so flagged.
    assert!(html.contains(
        "<tr class=\"flag\"><td class=\"t\">45110 ⚑</td><td>0</td><td>1</td><td>1</td><td>0</td>"
    ));
    assert!(html.contains("now in cohort RECENT_DISCHARGE"));
    assert!(html.contains("퇴원환자"), "Korean labels are kept as UTF-8");
}
