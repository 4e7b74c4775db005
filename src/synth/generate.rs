//! Drawing one chunk of persons and everything that happens to them.

use chrono::{Datelike, Months, NaiveDate};
use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson};

use super::SynthConfig;
use super::model::{Model, Sgg, banded};

/// The tables a chunk produces, in the order of [`ChunkTables::into_frames`].
pub const TABLE_NAMES: [&str; 7] = [
    "persons",
    "claims",
    "diagnoses",
    "prescriptions",
    "ltc_assessments",
    "ltc_services",
    "program_history",
];

/// Cumulative weights, for drawing an index in proportion to its weight.
struct Weighted {
    cum: Vec<f64>,
}

impl Weighted {
    fn new(weights: impl IntoIterator<Item = f64>) -> Weighted {
        let mut acc = 0.0;
        let cum = weights
            .into_iter()
            .map(|w| {
                acc += w.max(0.0);
                acc
            })
            .collect();
        Weighted { cum }
    }
    fn total(&self) -> f64 {
        self.cum.last().copied().unwrap_or(0.0)
    }
    fn draw(&self, rng: &mut ChaCha8Rng) -> usize {
        let x = rng.random::<f64>() * self.total();
        self.cum
            .partition_point(|c| *c <= x)
            .min(self.cum.len().saturating_sub(1))
    }
}

/// Everything a chunk needs that does not change between chunks.
pub struct Context<'a> {
    cfg: &'a SynthConfig,
    m: &'a Model,
    sggs: &'a [Sgg],
    ages: Vec<i32>,
    age_w: Weighted,
    sgg_old: Weighted,
    sgg_young: Weighted,
    out_kinds: (Vec<String>, Weighted),
    acute_kinds: (Vec<String>, Weighted),
    bg_dx: (Vec<String>, Weighted),
    grades: (Vec<String>, Weighted),
    oog: (Vec<String>, Weighted),
    outcomes: (Vec<String>, Weighted),
    r: NaiveDate,
    r_days: i32,
    window_start: i32,
    years: f64,
}

fn weighted_map(m: &std::collections::BTreeMap<String, f64>) -> (Vec<String>, Weighted) {
    (
        m.keys().cloned().collect(),
        Weighted::new(m.values().copied()),
    )
}

pub fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn date(days_since_epoch: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
        + chrono::Duration::days(days_since_epoch as i64)
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

fn days_in_month(d: NaiveDate) -> i32 {
    let start = month_start(d);
    let next = start + Months::new(1);
    (next - start).num_days() as i32
}

impl<'a> Context<'a> {
    pub fn new(cfg: &'a SynthConfig, m: &'a Model, sggs: &'a [Sgg]) -> Context<'a> {
        // One weight per single year of age, from the 5-year bands, restricted to min_age.
        let p = &m.population;
        let mut ages = Vec::new();
        let mut w = Vec::new();
        for (i, start) in p.age_bands.iter().enumerate() {
            let end = p.age_bands.get(i + 1).copied().unwrap_or(p.max_age + 1);
            let per_year = p.thousands[i] / (end - start) as f64;
            for a in *start..end {
                if a >= cfg.min_age {
                    ages.push(a);
                    w.push(per_year);
                }
            }
        }
        let window_start_date = cfg.as_of - Months::new(cfg.months) + chrono::Duration::days(1);
        let window_start = days(window_start_date);
        let r_days = days(cfg.as_of);
        Context {
            cfg,
            m,
            sggs,
            age_w: Weighted::new(w),
            ages,
            sgg_old: Weighted::new(sggs.iter().map(|s| s.population_65plus as f64)),
            sgg_young: Weighted::new(
                sggs.iter()
                    .map(|s| s.population.saturating_sub(s.population_65plus) as f64),
            ),
            out_kinds: weighted_map(&m.care.outpatient_kinds),
            acute_kinds: weighted_map(&m.care.acute_kinds),
            bg_dx: weighted_map(&m.background_dx),
            grades: weighted_map(&m.ltc.grades),
            oog: weighted_map(&m.ltc.out_of_grade_mix),
            outcomes: weighted_map(&m.program.outcome),
            r: cfg.as_of,
            r_days,
            window_start,
            years: (r_days - window_start + 1) as f64 / 365.25,
        }
    }

    /// Generates persons `first .. first + n` as chunk `k`.
    pub fn chunk(&self, k: u64, first: usize, n: usize) -> ChunkTables {
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(k);
        let mut t = ChunkTables::default();
        for i in 0..n {
            self.person((first + i) as u64, &mut rng, &mut t);
        }
        t
    }

    fn person(&self, idx: u64, rng: &mut ChaCha8Rng, t: &mut ChunkTables) {
        let m = self.m;
        let key = person_key(idx, self.cfg.seed);
        let pid = format!("P{key:010x}");
        let age = self.ages[self.age_w.draw(rng)];
        let old = age >= 65;
        let female = rng.random_bool(banded(
            &m.population.female_bands,
            &m.population.female_share,
            age,
        ));
        let sgg = if rng.random_bool(m.population.unknown_residence) {
            None
        } else {
            let w = if old { &self.sgg_old } else { &self.sgg_young };
            Some(&self.sggs[w.draw(rng)])
        };
        let aid = rng.random_bool(banded(&m.insurance.bands, &m.insurance.medical_aid, age));
        let insurance = if aid {
            if rng.random_bool(m.insurance.ma1_share) {
                "MA1"
            } else {
                "MA2"
            }
        } else {
            "NHI"
        };
        let decile = if aid || rng.random_bool(m.insurance.missing_decile) {
            None
        } else {
            // Older members sit lower in the contribution deciles.
            let skew = if old { 0.7 } else { 1.0 };
            Some((rng.random::<f64>().powf(1.0 / skew) * 10.0).floor() as i32 + 1)
                .map(|d| d.min(10))
        };
        let disabled = rng.random_bool(banded(&m.disability.bands, &m.disability.share, age));
        let yearly_death = banded(&m.mortality.bands, &m.mortality.rate, age);
        let death = if rng.random_bool((yearly_death * self.years).min(1.0)) {
            Some(rng.random_range(self.window_start..=self.r_days))
        } else {
            None
        };
        let last_day = death.unwrap_or(self.r_days);

        t.persons.person_id.push(pid.clone());
        t.persons.birth_year.push(self.r.year() - age);
        t.persons.sex.push(if female { "F" } else { "M" });
        t.persons.sgg_code.push(sgg.map(|s| s.sgg_code.clone()));
        t.persons.insurance_type.push(insurance);
        t.persons.income_decile.push(decile);
        t.persons.disability.push(disabled);
        t.persons.death_date.push(death);

        // Chronic conditions: index into m.condition and the one code this person carries.
        let mut held: Vec<(usize, &str)> = Vec::new();
        for (ci, c) in m.condition.iter().enumerate() {
            if rng.random_bool(banded(&c.bands, &c.prevalence, age).clamp(0.0, 1.0)) {
                held.push((ci, c.codes[rng.random_range(0..c.codes.len())].as_str()));
            }
        }
        let has_dementia = held.iter().any(|(ci, _)| *ci == 0);

        let mut p = PersonGen {
            ctx: self,
            pid: &pid,
            sgg: sgg.map(|s| s.sgg_code.as_str()).unwrap_or("00000"),
            held: &held,
            seq: 0,
            last_day,
        };
        let care = &m.care;
        if !rng.random_bool(care.no_claims_share) {
            let mut frailty = LogNormal::new(0.0, care.frailty_sigma)
                .expect("sigma ≥ 0")
                .sample(rng);
            if rng.random_bool(care.heavy_user_share) {
                frailty *= care.heavy_user_factor;
            }
            p.claims(rng, t, age, frailty);
        }
        if age >= m.ltc.min_age {
            p.ltc(rng, t, age, has_dementia);
            p.program(rng, t);
        }
    }
}

/// A bijection on 40 bits, so person ids look random yet never collide.
fn person_key(idx: u64, seed: u64) -> u64 {
    const MASK: u64 = (1 << 40) - 1;
    let mut x = (idx ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)) & MASK;
    x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93 | 1) & MASK;
    x ^= x >> 19;
    x = x.wrapping_mul(0xA076_1D64_78BD_642F | 1) & MASK;
    x ^= x >> 23;
    x
}

struct PersonGen<'c, 'a> {
    ctx: &'c Context<'a>,
    pid: &'c str,
    sgg: &'c str,
    held: &'c [(usize, &'c str)],
    seq: u32,
    last_day: i32,
}

/// A day in `lo..=hi`; `hi` when the range is empty (someone who died before `lo`).
fn day_between(rng: &mut ChaCha8Rng, lo: i32, hi: i32) -> i32 {
    if lo >= hi {
        hi
    } else {
        rng.random_range(lo..=hi)
    }
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    Poisson::new(lambda)
        .map(|d| d.sample(rng) as u64)
        .unwrap_or(0)
}

fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    LogNormal::new(median.max(1e-9).ln(), sigma)
        .map(|d| d.sample(rng))
        .unwrap_or(median)
}

fn cost(rng: &mut ChaCha8Rng, median: f64) -> i64 {
    let v: f64 = Normal::new(0.0, 0.5).map(|d| d.sample(rng)).unwrap_or(0.0);
    (median * v.exp()).round().max(0.0) as i64
}

impl PersonGen<'_, '_> {
    fn next_claim_id(&mut self) -> String {
        self.seq += 1;
        format!("C{}{:05}", &self.pid[1..], self.seq)
    }

    fn provider(&self, rng: &mut ChaCha8Rng, kind: &str) -> String {
        let pool = match kind {
            "31" | "81" | "93" | "51" => 40,
            "21" | "28" => 8,
            "11" => 4,
            _ => 2,
        };
        format!("H{kind}{}{:03}", self.sgg, rng.random_range(0..pool))
    }

    fn day_in_window(&self, rng: &mut ChaCha8Rng) -> i32 {
        rng.random_range(self.ctx.window_start..=self.last_day)
    }

    /// A diagnosis for a visit: one of the person's conditions with the condition's visit
    /// share, else a background code.
    fn visit_dx(&self, rng: &mut ChaCha8Rng) -> String {
        if !self.held.is_empty() {
            let (ci, code) = self.held[rng.random_range(0..self.held.len())];
            if rng.random_bool(self.ctx.m.condition[ci].visit_share) {
                return code.to_string();
            }
        }
        let (codes, w) = &self.ctx.bg_dx;
        codes[w.draw(rng)].clone()
    }

    #[allow(clippy::too_many_arguments)]
    fn push_claim(
        &mut self,
        t: &mut ChunkTables,
        rng: &mut ChaCha8Rng,
        kind: &str,
        care_type: &'static str,
        start: i32,
        end: Option<i32>,
        cost_krw: i64,
        dx: &[String],
    ) -> String {
        let id = self.next_claim_id();
        let c = &mut t.claims;
        c.claim_id.push(id.clone());
        c.person_id.push(self.pid.to_string());
        c.provider_id.push(self.provider(rng, kind));
        c.provider_kind.push(kind.to_string());
        c.care_type.push(care_type);
        c.start_date.push(start);
        c.end_date.push(end);
        c.cost_krw.push(cost_krw);
        for (i, code) in dx.iter().enumerate() {
            t.diagnoses.claim_id.push(id.clone());
            t.diagnoses.person_id.push(self.pid.to_string());
            t.diagnoses.dx_code.push(code.clone());
            t.diagnoses.dx_order.push(i as i32 + 1);
        }
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn stay(
        &mut self,
        t: &mut ChunkTables,
        rng: &mut ChaCha8Rng,
        kind: &str,
        start: i32,
        los: f64,
        per_day: f64,
        dx: &[String],
    ) -> Option<i32> {
        let los = (los.round() as i32).clamp(1, self.ctx.m.care.max_los);
        let end = start + los;
        // A stay still running at R (or at death, which ends it) has no discharge date yet.
        let end_date = if end > self.last_day {
            if self.last_day < self.ctx.r_days {
                Some(self.last_day)
            } else {
                None
            }
        } else {
            Some(end)
        };
        let days = end_date.unwrap_or(self.ctx.r_days) - start + 1;
        let cost_krw = cost(rng, per_day * days as f64);
        self.push_claim(t, rng, kind, "IN", start, end_date, cost_krw, dx);
        end_date
    }

    fn claims(&mut self, rng: &mut ChaCha8Rng, t: &mut ChunkTables, age: i32, frailty: f64) {
        let ctx = self.ctx;
        let care = &ctx.m.care;
        let b = &care.bands;
        let years = (self.last_day - ctx.window_start + 1).max(0) as f64 / 365.25;
        if years <= 0.0 {
            return;
        }
        let n_cond = self.held.len() as f64;
        // The person's own drug list: the ingredients every dispensing draws from.
        let n_drugs = (care.drugs_base + care.drugs_per_condition * n_cond) * frailty.sqrt();
        let n_drugs = (n_drugs.round() as usize).clamp(1, 40);
        let drugs: Vec<String> = (0..n_drugs)
            .map(|_| {
                let ing = rng.random_range(0..care.ingredient_pool);
                format!(
                    "{:04}{:02}ATB",
                    100_000 / 100 + ing,
                    rng.random_range(1..40)
                )
            })
            .collect();

        let visits = poisson(
            rng,
            (banded(b, &care.outpatient_visits, age) + care.visits_per_condition * n_cond)
                * frailty
                * years,
        );
        let mut dated: Vec<i32> = (0..visits).map(|_| self.day_in_window(rng)).collect();
        dated.sort_unstable();
        for day in dated {
            let kind = {
                let (k, w) = &ctx.out_kinds;
                k[w.draw(rng)].clone()
            };
            let mut dx = vec![self.visit_dx(rng)];
            if rng.random_bool(0.5) {
                let second = self.visit_dx(rng);
                if second != dx[0] {
                    dx.push(second);
                }
            }
            let c = cost(rng, care.cost_outpatient);
            self.push_claim(t, rng, &kind, "OUT", day, Some(day), c, &dx);
            if rng.random_bool(care.pharmacy_share) && kind != "71" {
                let c = cost(rng, care.cost_pharmacy);
                let id = self.push_claim(t, rng, "81", "RX", day, Some(day), c, &[]);
                let lines = rng.random_range(1..=care.max_lines_per_dispensing.min(drugs.len()));
                let first = rng.random_range(0..drugs.len());
                for l in 0..lines {
                    let pr = &mut t.prescriptions;
                    pr.claim_id.push(id.clone());
                    pr.person_id.push(self.pid.to_string());
                    pr.ingredient_code
                        .push(drugs[(first + l) % drugs.len()].clone());
                    pr.start_date.push(day);
                    let choices = &care.days_supply_choices;
                    pr.days_supply
                        .push(choices[rng.random_range(0..choices.len())]);
                }
            }
        }

        let er = poisson(rng, banded(b, &care.er_visits, age) * frailty * years);
        for _ in 0..er {
            let day = self.day_in_window(rng);
            let kind = {
                let (k, w) = &ctx.acute_kinds;
                k[w.draw(rng)].clone()
            };
            let dx = vec![self.visit_dx(rng)];
            let c = cost(rng, care.cost_er);
            self.push_claim(t, rng, &kind, "ER", day, Some(day), c, &dx);
        }

        let acute = poisson(rng, banded(b, &care.acute_stays, age) * frailty * years);
        for _ in 0..acute {
            let start = self.day_in_window(rng);
            let kind = {
                let (k, w) = &ctx.acute_kinds;
                k[w.draw(rng)].clone()
            };
            let los = lognormal(rng, care.acute_los_median, care.acute_los_sigma);
            let dx = vec![self.visit_dx(rng)];
            self.stay(t, rng, &kind, start, los, care.cost_inpatient_per_day, &dx);
        }
        let ltch = poisson(rng, banded(b, &care.ltch_stays, age) * frailty * years);
        for _ in 0..ltch {
            let start = self.day_in_window(rng);
            let los = lognormal(rng, care.ltch_los_median, care.ltch_los_sigma);
            let dx = vec![self.visit_dx(rng)];
            self.stay(t, rng, "28", start, los, care.cost_ltch_per_day, &dx);
        }
        let psych = poisson(rng, banded(b, &care.psych_stays, age) * frailty * years);
        for _ in 0..psych {
            let start = self.day_in_window(rng);
            let los = lognormal(rng, care.psych_los_median, care.psych_los_sigma);
            let dx = vec![self.visit_dx(rng)];
            self.stay(t, rng, "29", start, los, care.cost_ltch_per_day, &dx);
        }
        for ev in &ctx.m.event {
            let p = (banded(&ev.bands, &ev.incidence, age) * years * frailty.sqrt()).min(1.0);
            if !rng.random_bool(p) {
                continue;
            }
            let start = self.day_in_window(rng);
            let kind = {
                let (k, w) = &ctx.acute_kinds;
                k[w.draw(rng)].clone()
            };
            let los = lognormal(rng, ev.los_median, ev.los_sigma);
            let mut dx = vec![ev.codes[rng.random_range(0..ev.codes.len())].clone()];
            if !self.held.is_empty() {
                dx.push(self.visit_dx(rng));
            }
            let end = self.stay(t, rng, &kind, start, los, care.cost_inpatient_per_day, &dx);
            if let Some(end) = end
                && end < self.last_day
                && rng.random_bool(ev.to_ltch)
            {
                let start = (end + rng.random_range(0..3)).min(self.last_day);
                let los = lognormal(rng, care.ltch_los_median, care.ltch_los_sigma);
                self.stay(t, rng, "28", start, los, care.cost_ltch_per_day, &dx);
            }
        }
    }

    fn application_id(&mut self) -> String {
        self.seq += 1;
        format!("A{}{:05}", &self.pid[1..], self.seq)
    }

    #[allow(clippy::too_many_arguments)]
    fn push_assessment(
        &mut self,
        t: &mut ChunkTables,
        applied: i32,
        status: &'static str,
        decided: Option<i32>,
        grade: Option<&str>,
        score: Option<f64>,
        valid_until: Option<i32>,
    ) {
        let id = self.application_id();
        let a = &mut t.ltc_assessments;
        a.application_id.push(id);
        a.person_id.push(self.pid.to_string());
        a.application_date.push(applied);
        a.status.push(status);
        a.decision_date.push(decided);
        a.grade.push(grade.map(str::to_string));
        a.score.push(score);
        a.valid_until.push(valid_until);
    }

    fn score(&self, rng: &mut ChaCha8Rng, grade: &str) -> f64 {
        let [lo, hi] = self.ctx.m.ltc.scores[grade];
        let v = lo + rng.random::<f64>() * (hi - lo);
        ((v * 10.0).floor() / 10.0).clamp(lo, (hi - 0.1).max(lo))
    }

    fn ltc(&mut self, rng: &mut ChaCha8Rng, t: &mut ChunkTables, age: i32, has_dementia: bool) {
        let ctx = self.ctx;
        let l = &ctx.m.ltc;
        let r = ctx.r_days;
        let validity = 365 * l.validity_years;
        let decide = |rng: &mut ChaCha8Rng, decided: i32| {
            decided - rng.random_range(l.decision_days_min..=l.decision_days_max) as i32
        };
        if rng.random_bool(banded(&l.bands, &l.certified, age).min(1.0)) {
            let mut grade = ctx.grades.0[ctx.grades.1.draw(rng)].clone();
            if (grade == "5" || grade == "CS") && !has_dementia {
                grade = "4".to_string();
            }
            let decided = day_between(rng, r - validity + 1, r.min(self.last_day));
            if rng.random_bool(0.3) {
                // An earlier certification, renewed by the current one.
                let before = decided - validity;
                let g = if grade == "1" {
                    "2".to_string()
                } else {
                    ((grade.parse::<i32>().unwrap_or(4) + 1).min(5)).to_string()
                };
                let s = self.score(rng, &g);
                let applied = decide(rng, before);
                self.push_assessment(
                    t,
                    applied,
                    "DECIDED",
                    Some(before),
                    Some(&g),
                    Some(s),
                    Some(decided),
                );
            }
            let s = self.score(rng, &grade);
            let applied = decide(rng, decided);
            self.push_assessment(
                t,
                applied,
                "DECIDED",
                Some(decided),
                Some(&grade),
                Some(s),
                Some(decided + validity),
            );
            self.services(rng, t, &grade, decided);
        } else if rng.random_bool(l.out_of_grade) {
            let grade = ctx.oog.0[ctx.oog.1.draw(rng)].clone();
            let decided = day_between(rng, r - 2 * 365, r.min(self.last_day));
            let s = self.score(rng, &grade);
            let applied = decide(rng, decided);
            self.push_assessment(
                t,
                applied,
                "DECIDED",
                Some(decided),
                Some(&grade),
                Some(s),
                None,
            );
        }
        if rng.random_bool(l.pending) && self.last_day == r {
            let applied = r - rng.random_range(0..l.decision_days_max as i32);
            self.push_assessment(t, applied, "PENDING", None, None, None, None);
        }
        if rng.random_bool(l.withdrawn) {
            let applied = day_between(rng, r - 365, self.last_day);
            self.push_assessment(t, applied, "WITHDRAWN", None, None, None, None);
        }
    }

    fn services(&mut self, rng: &mut ChaCha8Rng, t: &mut ChunkTables, grade: &str, decided: i32) {
        let ctx = self.ctx;
        let l = &ctx.m.ltc;
        let facility =
            rng.random_bool(l.facility_share_by_grade.get(grade).copied().unwrap_or(0.0));
        if !facility && !rng.random_bool(l.home_service_share) {
            return;
        }
        let first = month_start(date(decided.max(ctx.window_start)));
        let last = month_start(date(self.last_day));
        let mut month = first;
        while month <= last {
            let dim = days_in_month(month);
            let m_days = days(month);
            if facility {
                let d = dim.min(self.last_day - m_days + 1).max(1);
                self.push_service(t, rng, m_days, "FACILITY", d);
            } else {
                for (svc, (p, mean_days)) in &l.home_services {
                    if rng.random_bool(*p) {
                        let d = (poisson(rng, *mean_days as f64) as i32).clamp(1, dim);
                        self.push_service(t, rng, m_days, svc, d);
                    }
                }
            }
            month = month + Months::new(1);
        }
    }

    fn push_service(
        &mut self,
        t: &mut ChunkTables,
        rng: &mut ChaCha8Rng,
        month: i32,
        svc: &str,
        d: i32,
    ) {
        let per_day = self.ctx.m.ltc.cost_per_day.get(svc).copied().unwrap_or(0.0);
        let s = &mut t.ltc_services;
        s.person_id.push(self.pid.to_string());
        s.service_month.push(month);
        s.service_type.push(svc.to_string());
        s.days.push(d);
        s.cost_krw.push(cost(rng, per_day * d as f64));
    }

    fn program(&mut self, rng: &mut ChaCha8Rng, t: &mut ChunkTables) {
        let ctx = self.ctx;
        if self.sgg == "00000" || !rng.random_bool(ctx.m.program.sent) {
            return;
        }
        let r_month = month_start(ctx.r);
        let sent = r_month - Months::new(rng.random_range(0..12));
        self.push_program(t, sent, "SENT");
        let (names, w) = &ctx.outcomes;
        let rest = 1.0 - w.total();
        let pick = rng.random::<f64>();
        if pick >= rest.max(0.0) {
            let outcome = names[w.draw(rng)].clone();
            let when = sent + Months::new(1);
            if when <= r_month {
                let status: &'static str = match outcome.as_str() {
                    "ENROLLED" => "ENROLLED",
                    "DECLINED" => "DECLINED",
                    _ => "INELIGIBLE",
                };
                self.push_program(t, when, status);
            }
        }
    }

    fn push_program(&mut self, t: &mut ChunkTables, month: NaiveDate, status: &'static str) {
        let p = &mut t.program_history;
        p.person_id.push(self.pid.to_string());
        p.sgg_code.push(self.sgg.to_string());
        p.event_month.push(days(month));
        p.status.push(status);
    }
}

#[derive(Default)]
pub struct Persons {
    person_id: Vec<String>,
    birth_year: Vec<i32>,
    sex: Vec<&'static str>,
    sgg_code: Vec<Option<String>>,
    insurance_type: Vec<&'static str>,
    income_decile: Vec<Option<i32>>,
    disability: Vec<bool>,
    death_date: Vec<Option<i32>>,
}

#[derive(Default)]
pub struct Claims {
    claim_id: Vec<String>,
    person_id: Vec<String>,
    provider_id: Vec<String>,
    provider_kind: Vec<String>,
    care_type: Vec<&'static str>,
    start_date: Vec<i32>,
    end_date: Vec<Option<i32>>,
    cost_krw: Vec<i64>,
}

#[derive(Default)]
pub struct Diagnoses {
    claim_id: Vec<String>,
    person_id: Vec<String>,
    dx_code: Vec<String>,
    dx_order: Vec<i32>,
}

#[derive(Default)]
pub struct Prescriptions {
    claim_id: Vec<String>,
    person_id: Vec<String>,
    ingredient_code: Vec<String>,
    start_date: Vec<i32>,
    days_supply: Vec<i32>,
}

#[derive(Default)]
pub struct Assessments {
    application_id: Vec<String>,
    person_id: Vec<String>,
    application_date: Vec<i32>,
    status: Vec<&'static str>,
    decision_date: Vec<Option<i32>>,
    grade: Vec<Option<String>>,
    score: Vec<Option<f64>>,
    valid_until: Vec<Option<i32>>,
}

#[derive(Default)]
pub struct Services {
    person_id: Vec<String>,
    service_month: Vec<i32>,
    service_type: Vec<String>,
    days: Vec<i32>,
    cost_krw: Vec<i64>,
}

#[derive(Default)]
pub struct Program {
    person_id: Vec<String>,
    sgg_code: Vec<String>,
    event_month: Vec<i32>,
    status: Vec<&'static str>,
}

/// The rows of one chunk, column by column.
#[derive(Default)]
pub struct ChunkTables {
    persons: Persons,
    claims: Claims,
    diagnoses: Diagnoses,
    prescriptions: Prescriptions,
    ltc_assessments: Assessments,
    ltc_services: Services,
    program_history: Program,
}

fn c<T, V>(name: &str, v: V) -> Column
where
    Series: NamedFrom<V, T>,
    T: ?Sized,
{
    Column::new(name.into(), v)
}

fn d(name: &str, v: Vec<i32>) -> PolarsResult<Column> {
    Column::new(name.into(), v).cast(&DataType::Date)
}

fn od(name: &str, v: Vec<Option<i32>>) -> PolarsResult<Column> {
    Column::new(name.into(), v).cast(&DataType::Date)
}

fn frame(cols: Vec<Column>) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(cols)
}

impl ChunkTables {
    /// The chunk as one frame per table, in [`TABLE_NAMES`] order, with contract dtypes.
    pub fn into_frames(self) -> PolarsResult<Vec<DataFrame>> {
        let p = self.persons;
        let cl = self.claims;
        let dx = self.diagnoses;
        let rx = self.prescriptions;
        let a = self.ltc_assessments;
        let s = self.ltc_services;
        let h = self.program_history;
        Ok(vec![
            frame(vec![
                c("person_id", p.person_id),
                c("birth_year", p.birth_year),
                c("sex", p.sex),
                c("sgg_code", p.sgg_code),
                c("insurance_type", p.insurance_type),
                c("income_decile", p.income_decile),
                c("disability", p.disability),
                od("death_date", p.death_date)?,
            ])?,
            frame(vec![
                c("claim_id", cl.claim_id),
                c("person_id", cl.person_id),
                c("provider_id", cl.provider_id),
                c("provider_kind", cl.provider_kind),
                c("care_type", cl.care_type),
                d("start_date", cl.start_date)?,
                od("end_date", cl.end_date)?,
                c("cost_krw", cl.cost_krw),
            ])?,
            frame(vec![
                c("claim_id", dx.claim_id),
                c("person_id", dx.person_id),
                c("dx_code", dx.dx_code),
                c("dx_order", dx.dx_order),
            ])?,
            frame(vec![
                c("claim_id", rx.claim_id),
                c("person_id", rx.person_id),
                c("ingredient_code", rx.ingredient_code),
                d("start_date", rx.start_date)?,
                c("days_supply", rx.days_supply),
            ])?,
            frame(vec![
                c("application_id", a.application_id),
                c("person_id", a.person_id),
                d("application_date", a.application_date)?,
                c("status", a.status),
                od("decision_date", a.decision_date)?,
                c("grade", a.grade),
                c("score", a.score),
                od("valid_until", a.valid_until)?,
            ])?,
            frame(vec![
                c("person_id", s.person_id),
                d("service_month", s.service_month)?,
                c("service_type", s.service_type),
                c("days", s.days),
                c("cost_krw", s.cost_krw),
            ])?,
            frame(vec![
                c("person_id", h.person_id),
                c("sgg_code", h.sgg_code),
                d("event_month", h.event_month)?,
                c("status", h.status),
            ])?,
        ])
    }
}
