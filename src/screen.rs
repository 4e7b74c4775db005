//! A screening run: the person frame collected once, the attrition funnel and per-cohort and
//! per-municipality counts taken from it, candidates ranked per municipality and capped.

use std::collections::BTreeMap;
use std::time::Instant;

use polars::prelude::*;

use crate::extract::{Extract, polars_message};
use crate::ir::RuleSet;
use crate::plan::{self, CANDIDATE, ELIGIBLE, SCORE, SUPPRESSED};

/// One step of the attrition funnel: how many *persons* remain after it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub step: String,
    pub label: String,
    pub persons: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CohortCount {
    pub id: String,
    pub label: String,
    /// Persons passing every base criterion who are in this cohort (before suppression).
    pub persons_eligible: u64,
    /// Of them, persons on a list after suppression and the cap.
    pub persons_listed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MunicipalityCount {
    /// Persons eligible (base criteria and a cohort), before suppression.
    pub persons_eligible: u64,
    /// Of them, persons suppressed.
    pub persons_suppressed: u64,
    /// Persons eligible and not suppressed: the candidates, before the cap.
    pub persons_before_cap: u64,
    /// Persons on the list (after the cap).
    pub persons_listed: u64,
}

/// The result of screening, before anything is written.
pub struct Screening {
    /// Listed candidates, ranked: sgg_code, rank, person_id, score, cohorts, age, sex,
    /// insurance_type, reasons, then one column per score term.
    pub listed: DataFrame,
    pub attrition: Vec<Step>,
    pub cohorts: Vec<CohortCount>,
    pub municipalities: BTreeMap<String, MunicipalityCount>,
    /// Candidates past the cap, not listed.
    pub persons_past_cap: u64,
    /// One row per person: person_id, sgg_code, the eligibility, suppression and candidate
    /// flags, the score, and every base, cohort, suppression and score-term column — what a
    /// comparison of two rule sets needs to say why a person moved.
    pub flags: DataFrame,
    pub timings: Vec<(&'static str, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    #[error("screening failed: {0}")]
    Polars(String),
}

fn pe(e: PolarsError) -> ScreenError {
    ScreenError::Polars(polars_message(&e))
}

fn sum_u64(df: &DataFrame, name: &str) -> u64 {
    df.column(name)
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<u64>())
        .unwrap_or(0)
}

/// Screens `ex` with `rs`.
pub fn run(ex: &Extract, rs: &RuleSet) -> Result<Screening, ScreenError> {
    let t = Instant::now();
    let persons = plan::person_frame_with(ex, rs, Some(plan::JOIN_ROWS_PER_PASS))
        .map_err(pe)?
        .collect_with_engine(Engine::Streaming)
        .map_err(pe)?
        .unwrap_single();
    from_persons(persons, rs, vec![("features", t.elapsed().as_secs_f64())])
}

/// Screens `ex` with two rule sets compiled at the same R, scanning the extract once: the
/// features the two share are computed once (what `balgul diff` runs).
pub fn run_pair(
    ex: &Extract,
    a: &RuleSet,
    b: &RuleSet,
) -> Result<(Screening, Screening), ScreenError> {
    let t = Instant::now();
    let (la, lb) = plan::person_frames_pair(ex, a, b).map_err(pe)?;
    let features = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let pa = la.collect().map_err(pe)?;
    let pb = lb.collect().map_err(pe)?;
    let finish = t.elapsed().as_secs_f64();
    Ok((
        from_persons(pa, a, vec![("features", features), ("finish", finish)])?,
        from_persons(pb, b, vec![("features (shared)", 0.0)])?,
    ))
}

/// The funnel, counts and ranked list from a collected person frame.
fn from_persons(
    persons: DataFrame,
    rs: &RuleSet,
    mut timings: Vec<(&'static str, f64)>,
) -> Result<Screening, ScreenError> {
    let mut keep = vec![
        col("person_id"),
        col("sgg_code"),
        col(ELIGIBLE),
        col(SUPPRESSED),
        col(CANDIDATE),
        col(SCORE),
    ];
    keep.extend(plan::flag_columns(rs).into_iter().map(|c| col(c.as_str())));
    let flags = persons.clone().lazy().select(keep).collect().map_err(pe)?;

    let t = Instant::now();
    // Attrition: persons left after each base criterion in turn, then a cohort, then suppression.
    let mut steps: Vec<(String, String, Expr)> =
        vec![("persons".into(), "추출 인원".into(), lit(true))];
    let mut acc = lit(true);
    for c in &rs.base {
        acc = acc.and(col(plan::base_col(&c.id)));
        steps.push((c.id.clone(), c.label.clone(), acc.clone()));
    }
    steps.push(("any_cohort".into(), "대상군 해당".into(), col(ELIGIBLE)));
    steps.push((
        "not_suppressed".into(),
        "중복 제공 제외 후".into(),
        col(CANDIDATE),
    ));
    let mut aggs: Vec<Expr> = steps
        .iter()
        .enumerate()
        .map(|(i, (_, _, e))| {
            // The first step counts every person (a literal `true` would sum to 1).
            let n = if i == 0 {
                len().cast(DataType::UInt64)
            } else {
                e.clone().cast(DataType::UInt64).sum()
            };
            n.alias(format!("s{i}"))
        })
        .collect();
    let all_base = rs
        .base
        .iter()
        .map(|c| col(plan::base_col(&c.id)))
        .reduce(|a, b| a.and(b))
        .unwrap_or(lit(true));
    for (i, c) in rs.cohorts.iter().enumerate() {
        aggs.push(
            all_base
                .clone()
                .and(col(plan::cohort_col(&c.id)))
                .cast(DataType::UInt64)
                .sum()
                .alias(format!("c{i}")),
        );
    }
    let counts = persons.clone().lazy().select(aggs).collect().map_err(pe)?;
    let mut attrition: Vec<Step> = steps
        .iter()
        .enumerate()
        .map(|(i, (s, l, _))| Step {
            step: s.clone(),
            label: l.clone(),
            persons: sum_u64(&counts, &format!("s{i}")),
        })
        .collect();

    let by_sgg = persons
        .clone()
        .lazy()
        .filter(col(ELIGIBLE))
        .group_by([col("sgg_code")])
        .agg([
            len().cast(DataType::UInt64).alias("eligible"),
            col(SUPPRESSED)
                .cast(DataType::UInt64)
                .sum()
                .alias("suppressed"),
            col(CANDIDATE)
                .cast(DataType::UInt64)
                .sum()
                .alias("candidates"),
        ])
        .sort(["sgg_code"], Default::default())
        .collect()
        .map_err(pe)?;
    let mut municipalities: BTreeMap<String, MunicipalityCount> = BTreeMap::new();
    {
        let codes = by_sgg.column("sgg_code").map_err(pe)?.str().map_err(pe)?;
        let e = by_sgg.column("eligible").map_err(pe)?.u64().map_err(pe)?;
        let s = by_sgg.column("suppressed").map_err(pe)?.u64().map_err(pe)?;
        let c = by_sgg.column("candidates").map_err(pe)?.u64().map_err(pe)?;
        for i in 0..by_sgg.height() {
            if let Some(code) = codes.get(i) {
                municipalities.insert(
                    code.to_string(),
                    MunicipalityCount {
                        persons_eligible: e.get(i).unwrap_or(0),
                        persons_suppressed: s.get(i).unwrap_or(0),
                        persons_before_cap: c.get(i).unwrap_or(0),
                        persons_listed: 0,
                    },
                );
            }
        }
    }
    timings.push(("counts", t.elapsed().as_secs_f64()));

    // Rank within each municipality by the rule set's keys, then cap.
    let t = Instant::now();
    let mut sort_cols = vec![col("sgg_code")];
    let mut desc = vec![false];
    for (i, k) in rs.order_by.iter().enumerate() {
        sort_cols.push(plan::expr(&k.expr).alias(format!("__key{i}")));
        desc.push(k.descending);
    }
    let n_keys = sort_cols.len();
    let candidates = plan::annotate(persons.lazy().filter(col(CANDIDATE)), rs)
        .sort_by_exprs(
            sort_cols,
            SortMultipleOptions::default()
                .with_order_descending_multi(desc)
                .with_nulls_last(true)
                .with_maintain_order(true),
        )
        .collect()
        .map_err(pe)?;
    let _ = n_keys;
    let sgg = candidates
        .column("sgg_code")
        .map_err(pe)?
        .str()
        .map_err(pe)?;
    let mut ranks: Vec<u32> = Vec::with_capacity(candidates.height());
    let mut prev: Option<&str> = None;
    let mut r = 0u32;
    for v in sgg.iter() {
        if v != prev {
            r = 0;
            prev = v;
        }
        r += 1;
        ranks.push(r);
    }
    let mut with_rank = candidates.clone();
    with_rank
        .with_column(Column::new("rank".into(), ranks))
        .map_err(pe)?;
    let cap = rs.cap as u32;
    let mut out_cols = vec![
        col("sgg_code"),
        col("rank"),
        col("person_id"),
        col(SCORE),
        col(plan::COHORTS),
        col("age"),
        col("sex"),
        col("insurance_type"),
        col(plan::REASONS),
    ];
    out_cols.extend(rs.score.iter().map(|t| col(plan::score_col(&t.id))));
    out_cols.extend(rs.cohorts.iter().map(|c| col(plan::cohort_col(&c.id))));
    let listed = with_rank
        .lazy()
        .filter(col("rank").lt_eq(lit(cap)))
        .select(out_cols)
        .collect()
        .map_err(pe)?;
    let persons_past_cap = (candidates.height() - listed.height()) as u64;
    {
        let sgg = listed.column("sgg_code").map_err(pe)?.str().map_err(pe)?;
        for v in sgg.iter().flatten() {
            municipalities
                .entry(v.to_string())
                .or_default()
                .persons_listed += 1;
        }
    }
    let mut cohorts = Vec::new();
    for (i, c) in rs.cohorts.iter().enumerate() {
        let on_list = listed
            .column(&plan::cohort_col(&c.id))
            .map_err(pe)?
            .bool()
            .map_err(pe)?
            .sum()
            .unwrap_or(0) as u64;
        cohorts.push(CohortCount {
            id: c.id.clone(),
            label: c.label.clone(),
            persons_eligible: sum_u64(&counts, &format!("c{i}")),
            persons_listed: on_list,
        });
    }
    attrition.push(Step {
        step: "listed".into(),
        label: format!("명단 등재 (시군구별 상위 {})", rs.cap),
        persons: listed.height() as u64,
    });
    let listed = listed.drop_many(rs.cohorts.iter().map(|c| plan::cohort_col(&c.id)));
    timings.push(("rank", t.elapsed().as_secs_f64()));
    Ok(Screening {
        listed,
        attrition,
        cohorts,
        municipalities,
        persons_past_cap,
        flags,
        timings,
    })
}
