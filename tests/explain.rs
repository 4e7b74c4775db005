//! `balgul explain` on planted persons: the expected pass/fail per clause.

mod common;

use balgul::extract::Extract;
use common::build::*;

fn explain(b: &Build, pid: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    b.write(dir.path());
    let ex = Extract::open(dir.path()).unwrap();
    let rs = balgul::rules::load(&default_rules(), r()).unwrap();
    balgul::explain::explain(&ex, &rs, pid)
        .unwrap()
        .expect("the person exists")
}

fn line<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no line {start} in\n{text}"))
}

#[test]
fn a_care_home_resident_fails_b4_and_is_not_eligible() {
    let mut b = Build::new();
    b.person("FAC", 80, "11110").pending("FAC");
    b.service("FAC", &month(0), "FACILITY");
    let t = explain(&b, "FAC");
    assert_eq!(
        line(&t, "B1 "),
        "  B1                     pass  65세 이상  [age=80]"
    );
    assert_eq!(
        line(&t, "B4 "),
        "  B4                     FAIL  시설 입소자 제외  [facility_months=true]"
    );
    assert_eq!(
        line(&t, "LTC_PENDING "),
        format!(
            "  LTC_PENDING            in   장기요양 신청 진행  [pending_since={}]",
            d(-10)
        )
    );
    // The row behind the failed criterion: this month's FACILITY service.
    let facility = t.split("facility_months ").nth(1).unwrap();
    assert!(
        facility
            .lines()
            .nth(1)
            .unwrap()
            .trim_start()
            .starts_with(&format!(
                "← service_month={} service_type=FACILITY",
                month(0)
            )),
        "{t}"
    );
    assert_eq!(
        line(&t, "facility_months "),
        "  facility_months        true         ltc_services · 시설급여 이용"
    );
    assert!(t.ends_with("verdict: not eligible\n"), "{t}");
}

#[test]
fn an_enrolled_person_is_eligible_but_suppressed() {
    let mut b = Build::new();
    b.person("ENR", 70, "11110").pending("ENR");
    b.program("ENR", "11110", &month(3), "ENROLLED");
    let t = explain(&b, "ENR");
    assert_eq!(
        line(&t, "ENROLLED "),
        "  ENROLLED               SUPPRESSED  통합돌봄 이용 중  [enrolled=true]"
    );
    assert_eq!(line(&t, "total "), "  total                    15");
    assert!(t.ends_with("verdict: eligible but suppressed\n"), "{t}");
}

#[test]
fn a_candidate_shows_its_terms_and_reasons() {
    let mut b = Build::new();
    b.person("L", 86, "11110");
    b.stay("L", "28", &d(-30), Some(&d(-12)));
    let t = explain(&b, "L");
    assert_eq!(line(&t, "sgg_code "), "  sgg_code               11110");
    assert_eq!(
        line(&t, "RECENT_DISCHARGE_LTCH "),
        "  RECENT_DISCHARGE_LTCH    10  요양병원 퇴원"
    );
    assert_eq!(line(&t, "total "), "  total                    70");
    assert!(
        t.contains("verdict: a candidate\nreasons: 퇴원환자: 요양병원 퇴원 "),
        "{t}"
    );
}
