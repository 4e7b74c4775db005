//! Comparing two rule sets on one extract: who enters and who leaves each municipality's
//! list, and why. Every count is of persons.
//!
//! The cause of a change is the first thing that differs for the person, in the order the
//! policy applies it: a base criterion (by id), cohort membership, suppression, then the
//! score and the cap. A rule set diffed against itself has no entrants, no leavers and no
//! rank moves at any level.

pub mod html;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use serde::Serialize;

use crate::ir::RuleSet;
use crate::plan;
use crate::screen::{Screening, Step};

/// One person whose listing differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonChange {
    pub person_id: String,
    pub sgg_code: String,
    /// `entered`, `left` or `moved`.
    pub change: String,
    pub rank_before: Option<u32>,
    pub rank_after: Option<u32>,
    pub score_before: i64,
    pub score_after: i64,
    pub cause: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MunicipalityDiff {
    pub sgg_code: String,
    pub listed_before: u64,
    pub listed_after: u64,
    pub entrants: u64,
    pub leavers: u64,
    /// Persons on both capped lists.
    pub overlap: u64,
    pub flagged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CohortDiff {
    pub id: String,
    pub label: String,
    pub persons_eligible_before: Option<u64>,
    pub persons_eligible_after: Option<u64>,
    pub persons_listed_before: Option<u64>,
    pub persons_listed_after: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub candidates_before_cap_before: u64,
    pub candidates_before_cap_after: u64,
    pub listed_before: u64,
    pub listed_after: u64,
    pub entrants: u64,
    pub leavers: u64,
    pub unchanged: u64,
    pub rank_moves: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub baseline: String,
    pub candidate: String,
    pub as_of: String,
    pub totals: Totals,
    /// Sorted by the size of the change (entrants + leavers), then by code.
    pub municipalities: Vec<MunicipalityDiff>,
    pub cohorts: Vec<CohortDiff>,
    /// Cause → persons, for entrants and for leavers.
    pub causes_entrants: BTreeMap<String, u64>,
    pub causes_leavers: BTreeMap<String, u64>,
    pub funnel_before: Vec<Step>,
    pub funnel_after: Vec<Step>,
    /// Quantiles (10, 25, 50, 75, 90 %) of the listed persons' scores.
    pub score_quantiles_before: Vec<i64>,
    pub score_quantiles_after: Vec<i64>,
    pub people: Vec<PersonChange>,
}

impl Diff {
    /// True when the two rule sets list exactly the same people at the same ranks.
    pub fn is_zero(&self) -> bool {
        let t = &self.totals;
        t.entrants == 0
            && t.leavers == 0
            && t.rank_moves == 0
            && t.listed_before == t.listed_after
            && self
                .municipalities
                .iter()
                .all(|m| m.entrants == 0 && m.leavers == 0)
            && self.causes_entrants.is_empty()
            && self.causes_leavers.is_empty()
    }
}

/// Per person: (sgg_code, rank, score) on the list.
fn listing(s: &Screening) -> PolarsResult<HashMap<String, (String, u32, i64)>> {
    let df = &s.listed;
    let ids = df.column("person_id")?.str()?.clone();
    let sgg = df.column("sgg_code")?.str()?.clone();
    let rank = df.column("rank")?.u32()?.clone();
    let score = df.column(plan::SCORE)?.i64()?.clone();
    let mut out = HashMap::new();
    for i in 0..df.height() {
        if let (Some(p), Some(g), Some(r), Some(sc)) =
            (ids.get(i), sgg.get(i), rank.get(i), score.get(i))
        {
            out.insert(p.to_string(), (g.to_string(), r, sc));
        }
    }
    Ok(out)
}

/// One person's row of flags, by column name.
struct Flags {
    bools: HashMap<String, bool>,
    /// Points per score term, by column name.
    terms: HashMap<String, i64>,
    score: i64,
}

fn flags_of(s: &Screening, people: &BTreeSet<String>) -> PolarsResult<HashMap<String, Flags>> {
    let df = &s.flags;
    let ids = df.column("person_id")?.str()?.clone();
    let score = df.column(plan::SCORE)?.i64()?.clone();
    let bool_cols: Vec<(String, BooleanChunked)> = df
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::Boolean)
        .map(|c| Ok((c.name().to_string(), c.bool()?.clone())))
        .collect::<PolarsResult<_>>()?;
    let term_cols: Vec<(String, Int64Chunked)> = df
        .columns()
        .iter()
        .filter(|c| c.name().starts_with("score:") && c.dtype() == &DataType::Int64)
        .map(|c| Ok((c.name().to_string(), c.i64()?.clone())))
        .collect::<PolarsResult<_>>()?;
    let mut out = HashMap::new();
    for i in 0..df.height() {
        let Some(p) = ids.get(i) else { continue };
        if !people.contains(p) {
            continue;
        }
        let bools = bool_cols
            .iter()
            .map(|(n, c)| (n.clone(), c.get(i).unwrap_or(false)))
            .collect();
        out.insert(
            p.to_string(),
            Flags {
                bools,
                terms: term_cols
                    .iter()
                    .map(|(n, c)| (n.clone(), c.get(i).unwrap_or(0)))
                    .collect(),
                score: score.get(i).unwrap_or(0),
            },
        );
    }
    Ok(out)
}

/// Why a person's listing differs between the two rule sets.
fn cause(b: Option<&Flags>, a: Option<&Flags>, rb: &RuleSet, ra: &RuleSet) -> String {
    let get = |f: Option<&Flags>, c: &str| f.and_then(|f| f.bools.get(c).copied());
    // Base criteria, in the candidate's order, then any the baseline alone has.
    let mut ids: Vec<&str> = ra.base.iter().map(|c| c.id.as_str()).collect();
    ids.extend(
        rb.base
            .iter()
            .map(|c| c.id.as_str())
            .filter(|id| !ra.base.iter().any(|c| c.id == *id)),
    );
    for id in ids {
        let c = plan::base_col(id);
        let (x, y) = (get(b, &c), get(a, &c));
        if x != y {
            return match (x, y) {
                (Some(true), Some(false)) => format!("base {id} now fails"),
                (Some(false), Some(true)) => format!("base {id} now passes"),
                (None, _) => format!("base {id} added"),
                (_, None) => format!("base {id} removed"),
                _ => format!("base {id} changed"),
            };
        }
    }
    let cohorts = |f: Option<&Flags>, rs: &RuleSet| -> BTreeSet<String> {
        rs.cohorts
            .iter()
            .filter(|c| get(f, &plan::cohort_col(&c.id)) == Some(true))
            .map(|c| c.id.clone())
            .collect()
    };
    let (cb, ca) = (cohorts(b, rb), cohorts(a, ra));
    if cb.is_empty() != ca.is_empty() {
        return if ca.is_empty() {
            format!(
                "no longer in a cohort (was {})",
                cb.into_iter().collect::<Vec<_>>().join(";")
            )
        } else {
            format!(
                "now in cohort {}",
                ca.into_iter().collect::<Vec<_>>().join(";")
            )
        };
    }
    let sb = get(b, plan::SUPPRESSED);
    let sa = get(a, plan::SUPPRESSED);
    if sb != sa {
        return if sa == Some(true) {
            "now suppressed".into()
        } else {
            "no longer suppressed".into()
        };
    }
    let (xb, xa) = (
        b.map(|f| f.score).unwrap_or(0),
        a.map(|f| f.score).unwrap_or(0),
    );
    if xb != xa {
        // Name the score terms that moved, in the candidate's order, then the baseline's.
        let mut ids: Vec<&str> = ra.score.iter().map(|t| t.id.as_str()).collect();
        ids.extend(
            rb.score
                .iter()
                .map(|t| t.id.as_str())
                .filter(|id| !ra.score.iter().any(|t| t.id == *id)),
        );
        let term = |f: Option<&Flags>, id: &str| {
            f.and_then(|f| f.terms.get(&plan::score_col(id)).copied())
                .unwrap_or(0)
        };
        let moved: Vec<String> = ids
            .into_iter()
            .filter(|id| term(b, id) != term(a, id))
            .map(|id| format!("{id} {:+} → {:+}", term(b, id), term(a, id)))
            .collect();
        return format!("score term {} (rank against the cap)", moved.join(", "));
    }
    "others entered or left above (same score)".into()
}

/// The causes shown (text, persons), and the persons and number of the causes not shown.
type TopCauses<'a> = (Vec<(&'a str, u64)>, Option<(u64, usize)>);

/// The `n` most frequent causes (ties by text), and the persons and number of the others.
fn top_causes(causes: &BTreeMap<String, u64>, n: usize) -> TopCauses<'_> {
    let mut rows: Vec<(&str, u64)> = causes.iter().map(|(c, k)| (c.as_str(), *k)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if rows.len() <= n {
        return (rows, None);
    }
    let rest = rows.split_off(n);
    let persons = rest.iter().map(|r| r.1).sum();
    (rows, Some((persons, rest.len())))
}

fn quantiles(s: &Screening) -> Vec<i64> {
    let mut v: Vec<i64> = s
        .listed
        .column(plan::SCORE)
        .ok()
        .and_then(|c| c.i64().ok().map(|c| c.into_no_null_iter().collect()))
        .unwrap_or_default();
    if v.is_empty() {
        return vec![];
    }
    v.sort_unstable();
    [0.10, 0.25, 0.50, 0.75, 0.90]
        .iter()
        .map(|q| v[((v.len() - 1) as f64 * q).round() as usize])
        .collect()
}

/// Compares `after` (the candidate rule set) with `before` (the baseline). A municipality is
/// flagged when its list changes by more than `threshold` (a share of its baseline list).
pub fn compare(
    rb: &RuleSet,
    before: &Screening,
    ra: &RuleSet,
    after: &Screening,
    threshold: f64,
) -> PolarsResult<Diff> {
    let lb = listing(before)?;
    let la = listing(after)?;
    let mut people = Vec::new();
    let ids: BTreeSet<String> = lb.keys().chain(la.keys()).cloned().collect();
    let changed: BTreeSet<String> = ids
        .iter()
        .filter(|p| lb.get(*p).map(|x| x.1) != la.get(*p).map(|x| x.1))
        .cloned()
        .collect();
    let fb = flags_of(before, &changed)?;
    let fa = flags_of(after, &changed)?;
    let mut totals = Totals {
        candidates_before_cap_before: before
            .municipalities
            .values()
            .map(|m| m.persons_before_cap)
            .sum(),
        candidates_before_cap_after: after
            .municipalities
            .values()
            .map(|m| m.persons_before_cap)
            .sum(),
        listed_before: lb.len() as u64,
        listed_after: la.len() as u64,
        ..Totals::default()
    };
    let mut munis: BTreeMap<String, MunicipalityDiff> = BTreeMap::new();
    let mut causes_entrants = BTreeMap::new();
    let mut causes_leavers = BTreeMap::new();
    for p in &ids {
        let (b, a) = (lb.get(p), la.get(p));
        let sgg = a.or(b).map(|x| x.0.clone()).unwrap_or_default();
        if let Some((g, _, _)) = b {
            munis.entry(g.clone()).or_default().listed_before += 1;
        }
        if let Some((g, _, _)) = a {
            munis.entry(g.clone()).or_default().listed_after += 1;
        }
        let kind = match (b, a) {
            (None, Some(_)) => "entered",
            (Some(_), None) => "left",
            (Some(x), Some(y)) if x.1 != y.1 => "moved",
            _ => {
                totals.unchanged += 1;
                munis.entry(sgg).or_default().overlap += 1;
                continue;
            }
        };
        let why = cause(fb.get(p), fa.get(p), rb, ra);
        match kind {
            "entered" => {
                totals.entrants += 1;
                munis.entry(sgg.clone()).or_default().entrants += 1;
                *causes_entrants.entry(why.clone()).or_insert(0) += 1;
            }
            "left" => {
                totals.leavers += 1;
                munis.entry(sgg.clone()).or_default().leavers += 1;
                *causes_leavers.entry(why.clone()).or_insert(0) += 1;
            }
            _ => {
                totals.rank_moves += 1;
                totals.unchanged += 1;
                munis.entry(sgg.clone()).or_default().overlap += 1;
            }
        }
        people.push(PersonChange {
            person_id: p.clone(),
            sgg_code: sgg,
            change: kind.into(),
            rank_before: b.map(|x| x.1),
            rank_after: a.map(|x| x.1),
            score_before: b.map(|x| x.2).or(fb.get(p).map(|f| f.score)).unwrap_or(0),
            score_after: a.map(|x| x.2).or(fa.get(p).map(|f| f.score)).unwrap_or(0),
            cause: why,
        });
    }
    let mut municipalities: Vec<MunicipalityDiff> = munis
        .into_iter()
        .map(|(code, mut m)| {
            m.sgg_code = code;
            let base = m.listed_before.max(1) as f64;
            m.flagged = (m.entrants + m.leavers) as f64 / base > threshold;
            m
        })
        .collect();
    municipalities.sort_by(|a, b| {
        (b.entrants + b.leavers)
            .cmp(&(a.entrants + a.leavers))
            .then(a.sgg_code.cmp(&b.sgg_code))
    });
    let mut cohort_ids: Vec<(String, String)> = ra
        .cohorts
        .iter()
        .map(|c| (c.id.clone(), c.label.clone()))
        .collect();
    for c in &rb.cohorts {
        if !cohort_ids.iter().any(|(id, _)| *id == c.id) {
            cohort_ids.push((c.id.clone(), c.label.clone()));
        }
    }
    let find = |s: &Screening, id: &str| {
        s.cohorts
            .iter()
            .find(|c| c.id == id)
            .map(|c| (c.persons_eligible, c.persons_listed))
    };
    let cohorts = cohort_ids
        .into_iter()
        .map(|(id, label)| {
            let (b, a) = (find(before, &id), find(after, &id));
            CohortDiff {
                persons_eligible_before: b.map(|x| x.0),
                persons_eligible_after: a.map(|x| x.0),
                persons_listed_before: b.map(|x| x.1),
                persons_listed_after: a.map(|x| x.1),
                id,
                label,
            }
        })
        .collect();
    Ok(Diff {
        baseline: format!("{} {}", rb.name, rb.version),
        candidate: format!("{} {}", ra.name, ra.version),
        as_of: ra.as_of.to_string(),
        totals,
        municipalities,
        cohorts,
        causes_entrants,
        causes_leavers,
        funnel_before: before.attrition.clone(),
        funnel_after: after.attrition.clone(),
        score_quantiles_before: quantiles(before),
        score_quantiles_after: quantiles(after),
        people,
    })
}

/// The comparison as a console table (every count is of persons).
pub fn render(d: &Diff) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let t = &d.totals;
    let _ = writeln!(
        o,
        "diff as of {}: baseline {} → candidate {} (persons)",
        d.as_of, d.baseline, d.candidate
    );
    let _ = writeln!(
        o,
        "  candidates before the cap {:>10} → {}",
        t.candidates_before_cap_before, t.candidates_before_cap_after
    );
    let _ = writeln!(
        o,
        "  listed                    {:>10} → {}",
        t.listed_before, t.listed_after
    );
    let _ = writeln!(
        o,
        "  entrants {}, leavers {}, unchanged {} (of whom {} moved rank)",
        t.entrants, t.leavers, t.unchanged, t.rank_moves
    );
    let _ = writeln!(o, "funnel (persons):");
    let _ = writeln!(o, "  {:<16} {:>10} {:>10}", "step", "before", "after");
    let steps: Vec<&str> = d
        .funnel_after
        .iter()
        .map(|s| s.step.as_str())
        .chain(d.funnel_before.iter().map(|s| s.step.as_str()))
        .collect::<Vec<_>>();
    let mut seen = BTreeSet::new();
    for st in steps {
        if !seen.insert(st) {
            continue;
        }
        let get = |f: &[Step]| {
            f.iter()
                .find(|s| s.step == st)
                .map(|s| s.persons.to_string())
                .unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(
            o,
            "  {:<16} {:>10} {:>10}",
            st,
            get(&d.funnel_before),
            get(&d.funnel_after)
        );
    }
    let _ = writeln!(o, "cohorts (persons eligible / listed):");
    for c in &d.cohorts {
        let f = |x: Option<u64>| x.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            o,
            "  {:<16} {:>8} → {:<8} {:>8} → {:<8} {}",
            c.id,
            f(c.persons_eligible_before),
            f(c.persons_eligible_after),
            f(c.persons_listed_before),
            f(c.persons_listed_after),
            c.label
        );
    }
    for (title, causes) in [
        ("entrants by cause (persons):", &d.causes_entrants),
        ("leavers by cause (persons):", &d.causes_leavers),
    ] {
        let _ = writeln!(o, "{title}");
        if causes.is_empty() {
            let _ = writeln!(o, "  none");
        }
        let (rows, rest) = top_causes(causes, 20);
        for (c, n) in rows {
            let _ = writeln!(o, "  {n:>8}  {c}");
        }
        if let Some((persons, kinds)) = rest {
            let _ = writeln!(o, "  {persons:>8}  ({kinds} other causes: see --people)");
        }
    }
    let changed: Vec<&MunicipalityDiff> = d
        .municipalities
        .iter()
        .filter(|m| m.entrants + m.leavers > 0)
        .collect();
    let _ = writeln!(
        o,
        "municipalities with a change ({} of {}, persons):",
        changed.len(),
        d.municipalities.len()
    );
    let _ = writeln!(
        o,
        "  {:<8} {:>8} {:>8} {:>9} {:>8} {:>8}",
        "sgg_code", "before", "after", "entrants", "leavers", "overlap"
    );
    for m in changed.iter().take(20) {
        let _ = writeln!(
            o,
            "  {:<8} {:>8} {:>8} {:>9} {:>8} {:>8}{}",
            m.sgg_code,
            m.listed_before,
            m.listed_after,
            m.entrants,
            m.leavers,
            m.overlap,
            if m.flagged {
                "  ← over the threshold"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        o,
        "score quantiles of the listed (10/25/50/75/90 %): {:?} → {:?}",
        d.score_quantiles_before, d.score_quantiles_after
    );
    o
}

/// The person-level changes as CSV.
pub fn people_csv(d: &Diff) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "person_id",
        "sgg_code",
        "change",
        "rank_before",
        "rank_after",
        "score_before",
        "score_after",
        "cause",
    ]);
    for p in &d.people {
        let r = |x: Option<u32>| x.map(|v| v.to_string()).unwrap_or_default();
        let _ = w.write_record([
            crate::export::safe_cell(&p.person_id).as_ref(),
            &p.sgg_code,
            &p.change,
            &r(p.rank_before),
            &r(p.rank_after),
            &p.score_before.to_string(),
            &p.score_after.to_string(),
            &p.cause,
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
