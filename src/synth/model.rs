//! The generative model of `balgul synth`, read from `fixtures/reference/synth-model.toml`
//! (every rate, share and code list lives there, not here) and the 시군구 table
//! `fixtures/reference/sgg.csv`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The model file shipped with balgul, compiled in so `synth` runs from any directory.
pub const DEFAULT_MODEL: &str = include_str!("../../fixtures/reference/synth-model.toml");
/// The 시군구 table shipped with balgul.
pub const DEFAULT_SGG: &str = include_str!("../../fixtures/reference/sgg.csv");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub population: Population,
    pub insurance: Insurance,
    pub disability: Banded,
    pub mortality: Mortality,
    pub care: Care,
    pub background_dx: BTreeMap<String, f64>,
    pub condition: Vec<Condition>,
    pub event: Vec<Event>,
    pub ltc: Ltc,
    pub program: Program,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    pub age_bands: Vec<i32>,
    pub thousands: Vec<f64>,
    pub max_age: i32,
    pub female_bands: Vec<i32>,
    pub female_share: Vec<f64>,
    pub unknown_residence: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Insurance {
    pub bands: Vec<i32>,
    pub medical_aid: Vec<f64>,
    pub ma1_share: f64,
    pub missing_decile: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Banded {
    pub bands: Vec<i32>,
    pub share: Vec<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mortality {
    pub bands: Vec<i32>,
    pub rate: Vec<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Care {
    pub bands: Vec<i32>,
    pub outpatient_visits: Vec<f64>,
    pub visits_per_condition: f64,
    pub pharmacy_share: f64,
    pub er_visits: Vec<f64>,
    pub acute_stays: Vec<f64>,
    pub ltch_stays: Vec<f64>,
    pub psych_stays: Vec<f64>,
    pub acute_los_median: f64,
    pub acute_los_sigma: f64,
    pub ltch_los_median: f64,
    pub ltch_los_sigma: f64,
    pub psych_los_median: f64,
    pub psych_los_sigma: f64,
    pub max_los: i32,
    pub frailty_sigma: f64,
    pub no_claims_share: f64,
    pub heavy_user_share: f64,
    pub heavy_user_factor: f64,
    pub drugs_base: f64,
    pub drugs_per_condition: f64,
    pub max_lines_per_dispensing: usize,
    pub days_supply_choices: Vec<i32>,
    pub ingredient_pool: u32,
    pub cost_outpatient: f64,
    pub cost_pharmacy: f64,
    pub cost_er: f64,
    pub cost_inpatient_per_day: f64,
    pub cost_ltch_per_day: f64,
    pub outpatient_kinds: BTreeMap<String, f64>,
    pub acute_kinds: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub name: String,
    pub codes: Vec<String>,
    pub bands: Vec<i32>,
    pub prevalence: Vec<f64>,
    pub visit_share: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub name: String,
    pub codes: Vec<String>,
    pub bands: Vec<i32>,
    pub incidence: Vec<f64>,
    pub los_median: f64,
    pub los_sigma: f64,
    pub to_ltch: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ltc {
    pub min_age: i32,
    pub bands: Vec<i32>,
    pub certified: Vec<f64>,
    pub grades: BTreeMap<String, f64>,
    pub scores: BTreeMap<String, [f64; 2]>,
    pub out_of_grade: f64,
    pub out_of_grade_mix: BTreeMap<String, f64>,
    pub pending: f64,
    pub withdrawn: f64,
    pub decision_days_min: i64,
    pub decision_days_max: i64,
    pub validity_years: i32,
    pub facility_share_by_grade: BTreeMap<String, f64>,
    pub home_service_share: f64,
    pub home_services: BTreeMap<String, (f64, i32)>,
    pub cost_per_day: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub sent: f64,
    pub outcome: BTreeMap<String, f64>,
}

/// One 시군구 of the reference table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sgg {
    pub sgg_code: String,
    pub sido: String,
    pub sgg_name: String,
    pub population: u64,
    pub population_65plus: u64,
}

/// The value of a banded table at `age`: the value of the last band starting at or below it.
pub fn banded(bands: &[i32], values: &[f64], age: i32) -> f64 {
    let i = bands.iter().rposition(|b| *b <= age).unwrap_or(0);
    values.get(i).copied().unwrap_or(0.0)
}

impl Model {
    pub fn parse(text: &str) -> Result<Model, String> {
        let m: Model = toml::from_str(text).map_err(|e| e.to_string())?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        let pairs: Vec<(&str, usize, usize)> = vec![
            (
                "population.thousands",
                self.population.age_bands.len(),
                self.population.thousands.len(),
            ),
            (
                "population.female_share",
                self.population.female_bands.len(),
                self.population.female_share.len(),
            ),
            (
                "insurance.medical_aid",
                self.insurance.bands.len(),
                self.insurance.medical_aid.len(),
            ),
            (
                "disability.share",
                self.disability.bands.len(),
                self.disability.share.len(),
            ),
            (
                "mortality.rate",
                self.mortality.bands.len(),
                self.mortality.rate.len(),
            ),
            (
                "care.outpatient_visits",
                self.care.bands.len(),
                self.care.outpatient_visits.len(),
            ),
            (
                "care.er_visits",
                self.care.bands.len(),
                self.care.er_visits.len(),
            ),
            (
                "care.acute_stays",
                self.care.bands.len(),
                self.care.acute_stays.len(),
            ),
            (
                "care.ltch_stays",
                self.care.bands.len(),
                self.care.ltch_stays.len(),
            ),
            (
                "care.psych_stays",
                self.care.bands.len(),
                self.care.psych_stays.len(),
            ),
            (
                "ltc.certified",
                self.ltc.bands.len(),
                self.ltc.certified.len(),
            ),
        ];
        for (name, a, b) in pairs {
            if a != b {
                return Err(format!("{name}: {b} values for {a} bands"));
            }
        }
        for c in &self.condition {
            if c.bands.len() != c.prevalence.len() || c.codes.is_empty() {
                return Err(format!(
                    "condition `{}`: bands and prevalence differ in length, or no codes",
                    c.name
                ));
            }
        }
        for e in &self.event {
            if e.bands.len() != e.incidence.len() || e.codes.is_empty() {
                return Err(format!(
                    "event `{}`: bands and incidence differ in length, or no codes",
                    e.name
                ));
            }
        }
        for g in self
            .ltc
            .grades
            .keys()
            .chain(self.ltc.out_of_grade_mix.keys())
        {
            if !self.ltc.scores.contains_key(g) {
                return Err(format!("ltc.scores has no band for grade `{g}`"));
            }
        }
        if self.care.days_supply_choices.is_empty() || self.care.max_lines_per_dispensing == 0 {
            return Err(
                "care.days_supply_choices and care.max_lines_per_dispensing must not be empty"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Reads the 시군구 table.
pub fn parse_sgg(text: &str) -> Result<Vec<Sgg>, String> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, row) in rdr.deserialize::<Sgg>().enumerate() {
        let row = row.map_err(|e| format!("sgg.csv line {}: {e}", i + 2))?;
        if row.sgg_code.len() != 5 || !row.sgg_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "sgg.csv line {}: `{}` is not a 5-digit code",
                i + 2,
                row.sgg_code
            ));
        }
        out.push(row);
    }
    if out.is_empty() {
        return Err("sgg.csv holds no 시군구".into());
    }
    Ok(out)
}
