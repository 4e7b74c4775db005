//! A builder of tiny extracts for rule tests: people and their events, dated relative to the
//! reference date R, written as CSV, screened with a rule set.

use std::path::{Path, PathBuf};

use balgul::extract::Extract;
use balgul::screen::Screening;
use chrono::NaiveDate;
use polars::prelude::*;

pub fn r() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()
}

/// R + `days`, as text.
pub fn d(days: i64) -> String {
    (r() + chrono::Duration::days(days)).to_string()
}

/// The first day of the month `k` months before R's month, as text.
pub fn month(k: u32) -> String {
    (NaiveDate::from_ymd_opt(2026, 10, 1).unwrap() - chrono::Months::new(k)).to_string()
}

pub fn default_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default.toml")
}

/// The extract in `dir` validated as a run validates it, keeping in memory what the default
/// rules' features want (`plan::rows_wanted`) when `keep`, and the default rules' person frame
/// over it, sorted by person.
pub fn validated_person_frame(dir: &Path, keep: bool) -> (Extract, balgul::ir::RuleSet, DataFrame) {
    let rs = balgul::rules::load(&default_rules(), r()).unwrap();
    let mut ex = Extract::open(dir).unwrap();
    let wanted = if keep {
        balgul::plan::rows_wanted(&rs)
    } else {
        Vec::new()
    };
    balgul::validate::validate_keeping(
        &mut ex,
        r(),
        balgul::validate::KeyLimits::default(),
        &wanted,
    )
    .unwrap();
    let df = balgul::plan::person_frame_with(&ex, &rs, Some(balgul::plan::JOIN_ROWS_PER_PASS))
        .unwrap()
        .sort(["person_id"], SortMultipleOptions::default())
        .collect()
        .unwrap();
    (ex, rs, df)
}

#[derive(Default)]
pub struct Build {
    persons: Vec<String>,
    claims: Vec<String>,
    dx: Vec<String>,
    rx: Vec<String>,
    ltc: Vec<String>,
    svc: Vec<String>,
    ph: Vec<String>,
    n: u32,
}

impl Build {
    pub fn new() -> Build {
        Build::default()
    }

    fn next(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{prefix}{:04}", self.n)
    }

    /// A person: NHI, woman, no disability, alive.
    pub fn person(&mut self, id: &str, age: i32, sgg: &str) -> &mut Self {
        self.person_full(id, age, Some(sgg), "NHI", None)
    }

    pub fn person_full(
        &mut self,
        id: &str,
        age: i32,
        sgg: Option<&str>,
        insurance: &str,
        death: Option<&str>,
    ) -> &mut Self {
        let decile = if insurance == "NHI" { "5" } else { "" };
        self.persons.push(format!(
            "{id},{},F,{},{insurance},{decile},false,{}",
            2026 - age,
            sgg.unwrap_or(""),
            death.unwrap_or("")
        ));
        self
    }

    /// A persons row written as it stands in the CSV.
    pub fn persons_raw(&mut self, row: &str) -> &mut Self {
        self.persons.push(row.to_string());
        self
    }

    /// A claims row written as it stands in the CSV.
    pub fn claims_raw(&mut self, row: &str) -> &mut Self {
        self.claims.push(row.to_string());
        self
    }

    /// A diagnoses row written as it stands in the CSV.
    pub fn dx_raw(&mut self, row: &str) -> &mut Self {
        self.dx.push(row.to_string());
        self
    }

    /// A prescriptions row written as it stands in the CSV.
    pub fn rx_raw(&mut self, row: &str) -> &mut Self {
        self.rx.push(row.to_string());
        self
    }

    /// An ltc_assessments row written as it stands in the CSV.
    pub fn ltc_raw(&mut self, row: &str) -> &mut Self {
        self.ltc.push(row.to_string());
        self
    }

    /// A claim; returns its id.
    pub fn claim(
        &mut self,
        pid: &str,
        kind: &str,
        care: &str,
        start: &str,
        end: Option<&str>,
    ) -> String {
        let id = self.next("C");
        let end = match (care, end) {
            ("IN", e) => e.unwrap_or("").to_string(),
            (_, _) => start.to_string(),
        };
        self.claims
            .push(format!("{id},{pid},H1,{kind},{care},{start},{end},10000"));
        id
    }

    /// An inpatient stay.
    pub fn stay(&mut self, pid: &str, kind: &str, start: &str, end: Option<&str>) -> String {
        self.claim(pid, kind, "IN", start, end)
    }

    /// An outpatient visit with a diagnosis.
    pub fn visit_dx(&mut self, pid: &str, date: &str, code: &str) -> String {
        let c = self.claim(pid, "31", "OUT", date, None);
        self.dx.push(format!("{c},{pid},{code},1"));
        c
    }

    /// Diagnoses of persons A–D (who must be added) on the edges of the default rules'
    /// one-year window (R−365 out, R−364 and R in, R+1 after R), for the joins of the diagnoses
    /// to their claims. Returns A's first claim (one diagnosis) and D's claim (three).
    pub fn diagnoses_across_the_window(&mut self) -> [String; 2] {
        // A: dementia and Parkinson's on two claims, a third claim with two diagnoses.
        let a1 = self.visit_dx("A", &d(-364), "F001");
        self.visit_dx("A", &d(-30), "G20");
        let c = self.visit_dx("A", &d(-2), "J00");
        self.dx_raw(&format!("{c},A,S7200,2"));
        // B: dementia only out of the window or after R; a cold in it.
        self.visit_dx("B", &d(-365), "F001");
        self.visit_dx("B", &d(1), "G20");
        self.visit_dx("B", &d(0), "J00");
        // C: the same set twice, on the window's last day and on R.
        self.visit_dx("C", &d(0), "F03");
        self.visit_dx("C", &d(-364), "F01");
        // D: one claim with three diagnoses in three sets.
        let d1 = self.visit_dx("D", &d(-100), "G309");
        self.dx_raw(&format!("{d1},D,G20,2"));
        self.dx_raw(&format!("{d1},D,S721,3"));
        [a1, d1]
    }

    /// A pharmacy dispensing of the given ingredients.
    pub fn dispense(&mut self, pid: &str, date: &str, ingredients: &[&str]) {
        let c = self.claim(pid, "81", "RX", date, None);
        for i in ingredients {
            self.rx.push(format!("{c},{pid},{i},{date},30"));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn assessment(
        &mut self,
        app_id: &str,
        pid: &str,
        applied: &str,
        status: &str,
        decided: Option<&str>,
        grade: Option<&str>,
        score: Option<f64>,
    ) {
        self.ltc.push(format!(
            "{app_id},{pid},{applied},{status},{},{},{},",
            decided.unwrap_or(""),
            grade.unwrap_or(""),
            score.map(|s| s.to_string()).unwrap_or_default()
        ));
    }

    /// A pending LTC application: makes a person a candidate (LTC_PENDING) and nothing else.
    pub fn pending(&mut self, pid: &str) -> &mut Self {
        let id = self.next("A");
        self.assessment(&id, pid, &d(-10), "PENDING", None, None, None);
        self
    }

    pub fn service(&mut self, pid: &str, month: &str, kind: &str) {
        self.svc.push(format!("{pid},{month},{kind},10,100000"));
    }

    pub fn program(&mut self, pid: &str, sgg: &str, month: &str, status: &str) {
        self.ph.push(format!("{pid},{sgg},{month},{status}"));
    }

    pub fn write(&self, dir: &Path) {
        let t = |h: &str, rows: &[String]| {
            format!(
                "{h}\n{}",
                rows.iter().map(|r| format!("{r}\n")).collect::<String>()
            )
        };
        std::fs::write(dir.join("persons.csv"), t("person_id,birth_year,sex,sgg_code,insurance_type,income_decile,disability,death_date", &self.persons)).unwrap();
        std::fs::write(dir.join("claims.csv"), t("claim_id,person_id,provider_id,provider_kind,care_type,start_date,end_date,cost_krw", &self.claims)).unwrap();
        std::fs::write(
            dir.join("diagnoses.csv"),
            t("claim_id,person_id,dx_code,dx_order", &self.dx),
        )
        .unwrap();
        std::fs::write(
            dir.join("prescriptions.csv"),
            t(
                "claim_id,person_id,ingredient_code,start_date,days_supply",
                &self.rx,
            ),
        )
        .unwrap();
        std::fs::write(dir.join("ltc_assessments.csv"), t("application_id,person_id,application_date,status,decision_date,grade,score,valid_until", &self.ltc)).unwrap();
        std::fs::write(
            dir.join("ltc_services.csv"),
            t(
                "person_id,service_month,service_type,days,cost_krw",
                &self.svc,
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("program_history.csv"),
            t("person_id,sgg_code,event_month,status", &self.ph),
        )
        .unwrap();
        std::fs::write(dir.join("extract.toml"), format!("as_of = \"{}\"\n", r())).unwrap();
    }

    /// Screens with the rule file at `rules`.
    pub fn run_with(&self, rules: &Path) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        self.write(dir.path());
        let ex = Extract::open(dir.path()).unwrap();
        let rs = balgul::rules::load(rules, r()).unwrap();
        let frame = balgul::plan::person_frame(&ex, &rs)
            .unwrap()
            .collect()
            .unwrap();
        let screening = balgul::screen::run(&ex, &rs).unwrap();
        Outcome { frame, screening }
    }

    pub fn run(&self) -> Outcome {
        self.run_with(&default_rules())
    }
}

pub struct Outcome {
    /// One row per person: features, flags, score terms.
    pub frame: DataFrame,
    pub screening: Screening,
}

impl Outcome {
    fn row(&self, pid: &str) -> DataFrame {
        let df = self
            .frame
            .clone()
            .lazy()
            .filter(col("person_id").eq(lit(pid)))
            .collect()
            .unwrap();
        assert_eq!(df.height(), 1, "no person {pid}");
        df
    }

    pub fn flag(&self, pid: &str, column: &str) -> bool {
        let df = self.row(pid);
        df.column(column)
            .unwrap_or_else(|_| panic!("no column {column}"))
            .bool()
            .unwrap()
            .get(0)
            .unwrap_or(false)
    }

    pub fn int(&self, pid: &str, column: &str) -> Option<i64> {
        let df = self.row(pid);
        let c = df
            .column(column)
            .unwrap_or_else(|_| panic!("no column {column}"))
            .cast(&DataType::Int64)
            .unwrap();
        c.i64().unwrap().get(0)
    }

    pub fn text(&self, pid: &str, column: &str) -> Option<String> {
        let df = self.row(pid);
        let c = df.column(column).unwrap().cast(&DataType::String).unwrap();
        c.str().unwrap().get(0).map(str::to_string)
    }

    /// (sgg_code, rank, person_id, score, cohorts) of every listed person, in list order.
    pub fn listed(&self) -> Vec<(String, u32, String, i64, String)> {
        let df = &self.screening.listed;
        let s = |c: &str, i: usize| {
            df.column(c)
                .unwrap()
                .get(i)
                .unwrap()
                .str_value()
                .to_string()
        };
        (0..df.height())
            .map(|i| {
                (
                    s("sgg_code", i),
                    s("rank", i).parse().unwrap(),
                    s("person_id", i),
                    s("score", i).parse().unwrap(),
                    s("cohorts", i),
                )
            })
            .collect()
    }

    /// The listing of one person: (rank, score, cohorts), or None when not listed.
    pub fn listing(&self, pid: &str) -> Option<(u32, i64, String)> {
        self.listed()
            .into_iter()
            .find(|l| l.2 == pid)
            .map(|l| (l.1, l.3, l.4))
    }
}

/// The default rule set with one text replaced, in a temporary copy (with its code sets).
pub fn edited_rules(from: &str, to: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    edited_rules_many(&[(from, to)])
}

/// The default rule set with each text replaced in turn, in a temporary copy.
pub fn edited_rules_many(edits: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(default_rules()).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    std::fs::create_dir(dir.path().join("codesets")).unwrap();
    std::fs::copy(
        default_rules()
            .parent()
            .unwrap()
            .join("codesets/conditions.csv"),
        dir.path().join("codesets/conditions.csv"),
    )
    .unwrap();
    let path = dir.path().join("default.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// The default rules with, besides their code-set feature over the diagnoses, a diagnoses
/// feature of every other kind: a count in the window, a flag, the first and last dates, a
/// sum. For the joins of the diagnoses to their claims (in passes, by parts), whose values per
/// person are combined per kind.
pub fn rules_with_dx_features_of_every_kind() -> (tempfile::TempDir, std::path::PathBuf) {
    let extra = r#"[features.dx_rows]
label = "dx rows"
from = "diagnoses"
where = "last_days(start_date, params.dx_window_days)"
agg = "count()"

[features.dx_secondary]
label = "secondary dx"
from = "diagnoses"
where = "dx_order > 1"
agg = "any()"

[features.dx_first]
label = "first dx"
from = "diagnoses"
agg = "min(start_date)"

[features.dx_last]
label = "last dx"
from = "diagnoses"
agg = "max(start_date)"

[features.dx_orders]
label = "dx orders"
from = "diagnoses"
where = "start_date <= R"
agg = "sum(dx_order)"

[features.discharges]"#;
    edited_rules("[features.discharges]", extra)
}

/// The value of `column` (as an integer) on `person`'s row of a person frame.
pub fn person_int(df: &polars::prelude::DataFrame, person: &str, column: &str) -> Option<i64> {
    use polars::prelude::DataType;
    let ids = df.column("person_id").unwrap().str().unwrap().clone();
    let i = ids.iter().position(|x| x == Some(person)).unwrap();
    df.column(column)
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .get(i)
}
