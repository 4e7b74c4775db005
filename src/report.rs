//! Plain-text reports of a screening for the console: the attrition funnel, the cohorts and
//! the municipalities, every count labelled with what it counts. Labels (Korean, of double
//! width in a terminal) come last on each line so the numbers stay aligned.

use std::fmt::Write;

use crate::screen::Screening;

/// How many municipalities the summary lists before its total line.
pub const TOP_MUNICIPALITIES: usize = 20;

/// The funnel, the cohorts and the largest municipalities, then a total line.
pub fn summary(s: &Screening) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "attrition (persons remaining after each step):");
    for st in &s.attrition {
        let _ = writeln!(o, "  {:<16} {:>12}  {}", st.step, st.persons, st.label);
    }
    let _ = writeln!(
        o,
        "cohorts (persons; eligible = passing every base criterion, before suppression):"
    );
    let _ = writeln!(o, "  {:<16} {:>12} {:>12}", "cohort", "eligible", "listed");
    for c in &s.cohorts {
        let _ = writeln!(
            o,
            "  {:<16} {:>12} {:>12}  {}",
            c.id, c.persons_eligible, c.persons_listed, c.label
        );
    }
    let mut m: Vec<(&String, &crate::screen::MunicipalityCount)> =
        s.municipalities.iter().collect();
    // Largest candidate pools first; ties by code, so the order is stable.
    m.sort_by(|a, b| {
        b.1.persons_before_cap
            .cmp(&a.1.persons_before_cap)
            .then(a.0.cmp(b.0))
    });
    let _ = writeln!(
        o,
        "municipalities (persons; top {} of {} by candidates before the cap):",
        TOP_MUNICIPALITIES.min(m.len()),
        m.len()
    );
    let _ = writeln!(
        o,
        "  {:<8} {:>10} {:>11} {:>11} {:>10}",
        "sgg_code", "eligible", "suppressed", "before cap", "listed"
    );
    for (code, c) in m.iter().take(TOP_MUNICIPALITIES) {
        let _ = writeln!(
            o,
            "  {:<8} {:>10} {:>11} {:>11} {:>10}",
            code, c.persons_eligible, c.persons_suppressed, c.persons_before_cap, c.persons_listed
        );
    }
    let sum =
        |f: fn(&crate::screen::MunicipalityCount) -> u64| m.iter().map(|(_, c)| f(c)).sum::<u64>();
    let _ = writeln!(
        o,
        "  {:<8} {:>10} {:>11} {:>11} {:>10}",
        "total",
        sum(|c| c.persons_eligible),
        sum(|c| c.persons_suppressed),
        sum(|c| c.persons_before_cap),
        sum(|c| c.persons_listed)
    );
    o
}
