//! policy-v1 (rules/default.toml), clause by clause, on tiny hand-built extracts at the
//! boundaries of each clause: day N−1 / N / N+1 of every window, ages 64/65, 74/75, 84/85,
//! ties, the cap, suppression months, events after R. R = 2026-10-31.

mod common;

use common::build::*;

#[test]
fn b1_age_65_and_age_points_at_74_75_84_85() {
    let mut b = Build::new();
    for (id, age) in [
        ("P64", 64),
        ("P65", 65),
        ("P74", 74),
        ("P75", 75),
        ("P84", 84),
        ("P85", 85),
    ] {
        b.person(id, age, "11110").pending(id);
    }
    let o = b.run();
    assert!(!o.flag("P64", "base:B1"));
    assert!(o.flag("P65", "base:B1"));
    assert_eq!(o.listing("P64"), None);
    // LTC_PENDING 15, plus the age band
    assert_eq!(o.listing("P65").unwrap().1, 15);
    assert_eq!(o.listing("P74").unwrap().1, 15);
    assert_eq!(o.listing("P75").unwrap().1, 25);
    assert_eq!(o.listing("P84").unwrap().1, 25);
    assert_eq!(o.listing("P85").unwrap().1, 35);
}

#[test]
fn b2_alive_at_r_means_no_death_or_death_after_r() {
    let mut b = Build::new();
    b.person_full("DEAD_R", 70, Some("11110"), "NHI", Some(&d(0)))
        .pending("DEAD_R");
    b.person_full("DEAD_R1", 70, Some("11110"), "NHI", Some(&d(1)))
        .pending("DEAD_R1");
    b.person_full("DEAD_BEFORE", 70, Some("11110"), "NHI", Some(&d(-1)))
        .pending("DEAD_BEFORE");
    let o = b.run();
    assert!(!o.flag("DEAD_R", "base:B2"));
    assert!(!o.flag("DEAD_BEFORE", "base:B2"));
    assert!(o.flag("DEAD_R1", "base:B2"));
    assert!(o.listing("DEAD_R1").is_some());
    assert!(o.listing("DEAD_R").is_none());
}

#[test]
fn b3_residence_must_be_known() {
    let mut b = Build::new();
    b.person_full("NOSGG", 70, None, "NHI", None)
        .pending("NOSGG");
    let o = b.run();
    assert!(!o.flag("NOSGG", "base:B3"));
    assert!(o.listed().is_empty());
}

#[test]
fn b4_care_home_in_month_of_r_or_the_month_before() {
    let mut b = Build::new();
    for (id, k) in [("FAC0", 0), ("FAC1", 1), ("FAC2", 2)] {
        b.person(id, 70, "11110").pending(id);
        b.service(id, &month(k), "FACILITY");
    }
    b.person("HOME", 70, "11110").pending("HOME");
    b.service("HOME", &month(0), "HOME_CARE");
    let o = b.run();
    assert!(!o.flag("FAC0", "base:B4"));
    assert!(!o.flag("FAC1", "base:B4"));
    assert!(o.flag("FAC2", "base:B4"));
    assert!(o.flag("HOME", "base:B4"));
}

#[test]
fn b5_in_hospital_at_r() {
    let mut b = Build::new();
    for id in ["OPEN", "END_R", "END_R1", "ADMIT_AFTER_R"] {
        b.person(id, 70, "11110").pending(id);
    }
    b.stay("OPEN", "11", &d(-5), None);
    b.stay("END_R", "11", &d(-5), Some(&d(0)));
    b.stay("END_R1", "11", &d(-5), Some(&d(1)));
    b.stay("ADMIT_AFTER_R", "11", &d(1), None);
    let o = b.run();
    assert!(!o.flag("OPEN", "base:B5"));
    assert!(
        o.flag("END_R", "base:B5"),
        "discharged on R is not in hospital at R"
    );
    assert!(!o.flag("END_R1", "base:B5"));
    assert!(
        o.flag("ADMIT_AFTER_R", "base:B5"),
        "an admission after R is not seen"
    );
}

#[test]
fn recent_discharge_window_stay_length_and_ltch_bonus() {
    let mut b = Build::new();
    let cases = [
        // id, kind, stay days, discharge offset from R
        ("D60", "11", 20, -60),    // end = R−60: outside (R−60 < end required)
        ("D59", "11", 20, -59),    // inside
        ("D0", "11", 20, 0),       // discharged on R: inside
        ("S13", "21", 13, -10),    // 13 days at 병원: too short
        ("S14", "21", 14, -10),    // 14 days: qualifies
        ("L3", "28", 3, -10),      // 요양병원: any length, +10
        ("CLINIC", "31", 30, -10), // 의원 is not a qualifying kind
    ];
    for (id, kind, stay, end) in cases {
        b.person(id, 70, "11110");
        b.stay(id, kind, &d(end - stay), Some(&d(end)));
    }
    let o = b.run();
    assert_eq!(o.listing("D60"), None);
    assert_eq!(
        o.listing("D59").map(|l| (l.1, l.2)),
        Some((40, "RECENT_DISCHARGE".into()))
    );
    assert_eq!(o.listing("D0").unwrap().1, 40);
    assert_eq!(o.listing("S13"), None);
    assert_eq!(o.listing("S14").unwrap().1, 40);
    assert_eq!(o.listing("L3").unwrap().1, 50);
    assert_eq!(o.listing("CLINIC"), None);
    let reasons = o.text("L3", "last_discharge_kind").unwrap();
    assert_eq!(reasons, "28");
}

/// Pins the latest-value pipeline (rows sorted with the counted ones last, then the last row
/// per person): a later stay that does not count must not hide an earlier one that does, a
/// person whose stays all fail the filter gets no value, and equal dates fall to `claim_id`.
#[test]
fn latest_discharge_is_the_last_counted_stay_not_a_later_uncounted_one() {
    let mut b = Build::new();
    b.person("LATER_SHORT", 70, "11110");
    b.stay("LATER_SHORT", "11", &d(-40), Some(&d(-20))); // 20 days: counts
    b.stay("LATER_SHORT", "11", &d(-8), Some(&d(-3))); // 5 days at a 종합병원: does not
    b.person("ONLY_SHORT", 70, "11110");
    b.stay("ONLY_SHORT", "11", &d(-8), Some(&d(-3)));
    b.person("TIE", 70, "11110");
    let c1 = b.stay("TIE", "11", &d(-30), Some(&d(-10)));
    let c2 = b.stay("TIE", "21", &d(-30), Some(&d(-10)));
    let o = b.run();
    assert_eq!(o.text("LATER_SHORT", "last_discharge_date"), Some(d(-20)));
    assert_eq!(o.int("LATER_SHORT", "last_discharge_stay"), Some(20));
    assert_eq!(o.text("ONLY_SHORT", "last_discharge_date"), None);
    assert_eq!(o.text("ONLY_SHORT", "last_discharge_kind"), None);
    let last_kind = if c2 > c1 { "21" } else { "11" };
    assert_eq!(
        o.text("TIE", "last_discharge_kind").as_deref(),
        Some(last_kind)
    );
}

#[test]
fn out_of_grade_latest_decision_with_ties_and_window() {
    let mut b = Build::new();
    for id in [
        "A_IN",
        "B_IN",
        "A_365",
        "A_364",
        "TIE",
        "LATER_GRADE3",
        "DECIDED_AFTER_R",
    ] {
        b.person(id, 70, "11110");
    }
    b.assessment(
        "X01",
        "A_IN",
        &d(-40),
        "DECIDED",
        Some(&d(-10)),
        Some("A"),
        Some(48.0),
    );
    b.assessment(
        "X02",
        "B_IN",
        &d(-40),
        "DECIDED",
        Some(&d(-10)),
        Some("B"),
        Some(42.0),
    );
    b.assessment(
        "X03",
        "A_365",
        &d(-400),
        "DECIDED",
        Some(&d(-365)),
        Some("A"),
        Some(48.0),
    );
    b.assessment(
        "X04",
        "A_364",
        &d(-400),
        "DECIDED",
        Some(&d(-364)),
        Some("A"),
        Some(48.0),
    );
    // Two decisions on the same day: the greater application_id is the latest.
    b.assessment(
        "X05",
        "TIE",
        &d(-40),
        "DECIDED",
        Some(&d(-10)),
        Some("3"),
        Some(65.0),
    );
    b.assessment(
        "X06",
        "TIE",
        &d(-40),
        "DECIDED",
        Some(&d(-10)),
        Some("B"),
        Some(42.0),
    );
    // A later decision with a grade supersedes an earlier A.
    b.assessment(
        "X07",
        "LATER_GRADE3",
        &d(-200),
        "DECIDED",
        Some(&d(-150)),
        Some("A"),
        Some(48.0),
    );
    b.assessment(
        "X08",
        "LATER_GRADE3",
        &d(-40),
        "DECIDED",
        Some(&d(-10)),
        Some("3"),
        Some(65.0),
    );
    // A decision dated after R is not yet known at R (and the application counts as pending).
    b.assessment(
        "X09",
        "DECIDED_AFTER_R",
        &d(-100),
        "DECIDED",
        Some(&d(-60)),
        Some("A"),
        Some(48.0),
    );
    b.assessment(
        "X10",
        "DECIDED_AFTER_R",
        &d(-30),
        "DECIDED",
        Some(&d(5)),
        Some("3"),
        Some(65.0),
    );
    let o = b.run();
    assert_eq!(
        o.listing("A_IN").map(|l| (l.1, l.2)),
        Some((25, "OUT_OF_GRADE_AB".into()))
    );
    assert_eq!(
        o.listing("B_IN").map(|l| (l.1, l.2)),
        Some((20, "OUT_OF_GRADE_AB".into()))
    );
    assert_eq!(o.listing("A_365"), None);
    assert_eq!(o.listing("A_364").unwrap().1, 25);
    assert_eq!(o.text("TIE", "latest_grade").as_deref(), Some("B"));
    assert_eq!(o.listing("TIE").unwrap().1, 20);
    assert_eq!(o.listing("LATER_GRADE3"), None);
    assert_eq!(
        o.text("DECIDED_AFTER_R", "latest_grade").as_deref(),
        Some("A")
    );
    assert_eq!(
        o.listing("DECIDED_AFTER_R").map(|l| (l.1, l.2)),
        Some((40, "LTC_PENDING;OUT_OF_GRADE_AB".into()))
    );
}

#[test]
fn ltc_pending_window_withdrawn_and_after_r() {
    let mut b = Build::new();
    for id in ["P90", "P89", "P0", "WD", "FUTURE"] {
        b.person(id, 70, "11110");
    }
    b.assessment("Y1", "P90", &d(-90), "PENDING", None, None, None);
    b.assessment("Y2", "P89", &d(-89), "PENDING", None, None, None);
    b.assessment("Y3", "P0", &d(0), "PENDING", None, None, None);
    b.assessment("Y4", "WD", &d(-10), "WITHDRAWN", None, None, None);
    b.assessment("Y5", "FUTURE", &d(1), "PENDING", None, None, None);
    let o = b.run();
    assert_eq!(o.listing("P90"), None);
    assert_eq!(
        o.listing("P89").map(|l| (l.1, l.2)),
        Some((15, "LTC_PENDING".into()))
    );
    assert!(o.listing("P0").is_some());
    assert_eq!(o.listing("WD"), None);
    assert_eq!(o.listing("FUTURE"), None);
}

#[test]
fn inhome_ltc_needs_recent_service_and_complex_needs() {
    let mut b = Build::new();
    for id in [
        "M2_2GROUPS",
        "M3_2GROUPS",
        "M0_1GROUP",
        "M0_1GROUP_STAY",
        "M0_BATH_ONLY_EQUIP",
    ] {
        b.person(id, 70, "11110");
    }
    let two_groups = |b: &mut Build, id: &str| {
        b.visit_dx(id, &d(-30), "F001");
        b.visit_dx(id, &d(-30), "E119");
    };
    b.service("M2_2GROUPS", &month(2), "HOME_CARE");
    two_groups(&mut b, "M2_2GROUPS");
    b.service("M3_2GROUPS", &month(3), "HOME_CARE");
    two_groups(&mut b, "M3_2GROUPS");
    b.service("M0_1GROUP", &month(0), "DAY_NIGHT");
    b.visit_dx("M0_1GROUP", &d(-30), "I639");
    b.service("M0_1GROUP_STAY", &month(0), "DAY_NIGHT");
    b.visit_dx("M0_1GROUP_STAY", &d(-30), "I639");
    b.stay("M0_1GROUP_STAY", "11", &d(-300), Some(&d(-290)));
    b.service("M0_BATH_ONLY_EQUIP", &month(0), "WELFARE_EQUIP");
    two_groups(&mut b, "M0_BATH_ONLY_EQUIP");
    let o = b.run();
    // INHOME 20 + dementia 10 + diabetes 3
    assert_eq!(
        o.listing("M2_2GROUPS").map(|l| (l.1, l.2)),
        Some((33, "INHOME_LTC".into()))
    );
    assert_eq!(o.listing("M3_2GROUPS"), None);
    assert_eq!(o.listing("M0_1GROUP"), None);
    // INHOME 20 + stroke 5
    assert_eq!(o.listing("M0_1GROUP_STAY").unwrap().1, 25);
    assert_eq!(
        o.listing("M0_BATH_ONLY_EQUIP"),
        None,
        "복지용구 alone is not an in-home service of the cohort"
    );
}

#[test]
fn suppression_enrolled_ever_and_sent_or_declined_within_six_months() {
    let mut b = Build::new();
    for id in ["ENR", "ENR_FUTURE", "SENT6", "SENT7", "DECL0", "INELIG"] {
        b.person(id, 70, "11110").pending(id);
    }
    b.program("ENR", "11110", &month(30), "ENROLLED");
    b.program("ENR_FUTURE", "11110", "2026-11-01", "ENROLLED");
    b.program("SENT6", "11110", &month(6), "SENT");
    b.program("SENT7", "11110", &month(7), "SENT");
    b.program("DECL0", "11110", &month(0), "DECLINED");
    b.program("INELIG", "11110", &month(0), "INELIGIBLE");
    let o = b.run();
    assert!(o.flag("ENR", "suppress:ENROLLED"));
    assert_eq!(o.listing("ENR"), None);
    assert!(
        o.listing("ENR_FUTURE").is_some(),
        "an event after R is not seen"
    );
    assert_eq!(o.listing("SENT6"), None);
    assert!(o.listing("SENT7").is_some());
    assert_eq!(o.listing("DECL0"), None);
    assert!(o.listing("INELIG").is_some());
    let m = &o.screening.municipalities["11110"];
    assert_eq!(
        (
            m.persons_eligible,
            m.persons_suppressed,
            m.persons_before_cap,
            m.persons_listed
        ),
        (6, 3, 3, 3)
    );
}

#[test]
fn score_terms_medical_aid_conditions_polypharmacy_er_admissions() {
    let mut b = Build::new();
    b.person_full("RICH", 70, Some("11110"), "MA1", None)
        .pending("RICH");
    // every condition group once (10+10+5+5+5+5+5+5+3 = 53); a code outside any group adds nothing
    for code in [
        "G300", "S7200", "G20", "I693", "I509", "J449", "N183", "F329", "E149", "I10",
    ] {
        b.visit_dx("RICH", &d(-100), code);
    }
    // a diagnosis 365 days ago is outside the window
    b.person("OLD_DX", 70, "11110").pending("OLD_DX");
    b.visit_dx("OLD_DX", &d(-365), "F001");
    // 10 distinct ingredients in the last 90 days (one dispensed at R−90 does not count)
    b.person("POLY", 70, "11110").pending("POLY");
    b.dispense("POLY", &d(-89), &["A01", "A02", "A03", "A04", "A05"]);
    b.dispense("POLY", &d(0), &["A06", "A07", "A08", "A09", "A10", "A01"]);
    b.person("POLY9", 70, "11110").pending("POLY9");
    b.dispense("POLY9", &d(-90), &["A01"]);
    b.dispense(
        "POLY9",
        &d(-1),
        &[
            "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A09", "A10",
        ],
    );
    // two ER visits within 180 days; two admissions within 365 days
    b.person("ER", 70, "11110").pending("ER");
    b.claim("ER", "11", "ER", &d(-179), None);
    b.claim("ER", "11", "ER", &d(-1), None);
    b.person("ER1", 70, "11110").pending("ER1");
    b.claim("ER1", "11", "ER", &d(-180), None);
    b.claim("ER1", "11", "ER", &d(-1), None);
    b.person("ADM", 70, "11110").pending("ADM");
    b.stay("ADM", "11", &d(-364), Some(&d(-360)));
    b.stay("ADM", "31", &d(-200), Some(&d(-195)));
    let o = b.run();
    assert_eq!(o.int("RICH", "conditions"), Some(9));
    assert_eq!(o.listing("RICH").unwrap().1, 15 + 10 + 53);
    assert_eq!(o.int("OLD_DX", "conditions"), Some(0));
    assert_eq!(o.listing("OLD_DX").unwrap().1, 15);
    assert_eq!(o.int("POLY", "ingredients"), Some(10));
    assert_eq!(o.listing("POLY").unwrap().1, 25);
    assert_eq!(o.int("POLY9", "ingredients"), Some(9));
    assert_eq!(o.listing("POLY9").unwrap().1, 15);
    assert_eq!(o.listing("ER").unwrap().1, 25);
    assert_eq!(o.listing("ER1").unwrap().1, 15);
    assert_eq!(o.listing("ADM").unwrap().1, 25);
}

#[test]
fn ranking_score_then_person_id_per_municipality_and_the_cap() {
    let mut b = Build::new();
    // Same score: person_id ascending (byte order: upper case before lower case).
    for id in ["Pb", "PA", "Pa"] {
        b.person(id, 70, "11110").pending(id);
    }
    b.person("TOP", 90, "11110").pending("TOP");
    b.person("OTHER", 70, "45110").pending("OTHER");
    let o = b.run();
    let got: Vec<(String, u32, String, i64)> = o
        .listed()
        .into_iter()
        .map(|l| (l.0, l.1, l.2, l.3))
        .collect();
    let want = vec![
        ("11110".to_string(), 1, "TOP".to_string(), 35),
        ("11110".to_string(), 2, "PA".to_string(), 15),
        ("11110".to_string(), 3, "Pa".to_string(), 15),
        ("11110".to_string(), 4, "Pb".to_string(), 15),
        ("45110".to_string(), 1, "OTHER".to_string(), 15),
    ];
    assert_eq!(got, want);

    // The same extract with a cap of 2: the rest are counted, not listed.
    let (_dir, rules) = edited_rules("cap = { value = 300,", "cap = { value = 2,");
    let o = b.run_with(&rules);
    let ids: Vec<String> = o.listed().into_iter().map(|l| l.2).collect();
    assert_eq!(ids, ["TOP", "PA", "OTHER"]);
    assert_eq!(o.screening.persons_past_cap, 2);
    assert_eq!(o.screening.municipalities["11110"].persons_before_cap, 4);
    assert_eq!(o.screening.municipalities["11110"].persons_listed, 2);
}

#[test]
fn attrition_counts_persons_criterion_by_criterion() {
    let mut b = Build::new();
    b.person("YOUNG", 60, "11110").pending("YOUNG");
    b.person_full("DEAD", 70, Some("11110"), "NHI", Some(&d(-1)))
        .pending("DEAD");
    b.person("NONE", 70, "11110");
    b.person("OK", 70, "11110").pending("OK");
    let o = b.run();
    let steps: Vec<(String, u64)> = o
        .screening
        .attrition
        .iter()
        .map(|s| (s.step.clone(), s.persons))
        .collect();
    let want: Vec<(String, u64)> = [
        ("persons", 4),
        ("B1", 3),
        ("B2", 2),
        ("B3", 2),
        ("B4", 2),
        ("B5", 2),
        ("any_cohort", 1),
        ("not_suppressed", 1),
        ("listed", 1),
    ]
    .into_iter()
    .map(|(s, n)| (s.to_string(), n))
    .collect();
    assert_eq!(steps, want);
}

#[test]
fn reasons_explain_cohorts_and_points_in_korean() {
    let mut b = Build::new();
    b.person("L", 86, "11110");
    b.stay("L", "28", &d(-30), Some(&d(-12)));
    let o = b.run();
    let df = &o.screening.listed;
    let reasons = df
        .column("reasons")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_string();
    assert_eq!(
        reasons,
        format!(
            "퇴원환자: 요양병원 퇴원 {} (입원 18일); 퇴원 +40; 요양병원 퇴원 +10; 연령 +20",
            d(-12)
        )
    );
}

#[test]
fn editing_parameters_changes_the_result_with_no_code_change() {
    let mut b = Build::new();
    b.person("D75", 70, "11110");
    b.stay("D75", "11", &d(-95), Some(&d(-75)));
    b.person("P66", 66, "11110").pending("P66");
    let o = b.run();
    assert_eq!(o.listing("D75"), None);
    assert!(o.listing("P66").is_some());
    // Discharge window 60 → 90 days: the discharge 75 days ago now counts.
    let (_d1, rules) = edited_rules(
        "discharge_window_days = { value = 60,",
        "discharge_window_days = { value = 90,",
    );
    let o = b.run_with(&rules);
    assert_eq!(
        o.listing("D75").map(|l| (l.1, l.2)),
        Some((40, "RECENT_DISCHARGE".into()))
    );
    // Minimum age 65 → 70: the 66-year-old leaves the list.
    let (_d2, rules) = edited_rules("min_age = { value = 65,", "min_age = { value = 70,");
    assert_eq!(b.run_with(&rules).listing("P66"), None);
    // Points for a pending application 15 → 18.
    let (_d3, rules) = edited_rules("pts_pending = { value = 15,", "pts_pending = { value = 18,");
    assert_eq!(b.run_with(&rules).listing("P66").unwrap().1, 18);
}

#[test]
fn a_second_rule_set_targets_disabled_people_of_any_age() {
    let rules = default_rules()
        .parent()
        .unwrap()
        .join("examples/disability-pilot.toml");
    let mut b = Build::new();
    b.persons_raw("YOUNG_DIS,1990,M,11110,NHI,5,true,");
    b.persons_raw("OLD_DIS,1940,F,11110,NHI,5,true,");
    b.persons_raw("OLD_NODIS,1940,F,11110,NHI,5,false,");
    for p in ["YOUNG_DIS", "OLD_DIS", "OLD_NODIS"] {
        b.stay(p, "11", &d(-40), Some(&d(-30)));
    }
    let o = b.run_with(&rules);
    // Same score: older first (the rule set's own tie-break), then person_id.
    let got: Vec<(u32, String, i64)> = o.listed().into_iter().map(|l| (l.1, l.2, l.3)).collect();
    assert_eq!(
        got,
        vec![
            (1, "OLD_DIS".to_string(), 30),
            (2, "YOUNG_DIS".to_string(), 30)
        ]
    );
}
