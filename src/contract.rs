//! The input data contract (`shared/spec/data-contract.md`) as data: every table, its columns,
//! their types, nullability and enumerations. The loader, the validator and the synthetic data
//! generator all read this one description, so the contract is written down exactly once.

use polars::prelude::DataType;

/// The logical column types of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Str,
    I32,
    I64,
    F64,
    Bool,
    Date,
}

impl ColType {
    /// The Polars dtype a column of this type has once loaded.
    pub fn dtype(self) -> DataType {
        match self {
            ColType::Str => DataType::String,
            ColType::I32 => DataType::Int32,
            ColType::I64 => DataType::Int64,
            ColType::F64 => DataType::Float64,
            ColType::Bool => DataType::Boolean,
            ColType::Date => DataType::Date,
        }
    }

    /// The contract's own name for the type (`str`, `i32`, …), used in messages.
    pub fn name(self) -> &'static str {
        match self {
            ColType::Str => "str",
            ColType::I32 => "i32",
            ColType::I64 => "i64",
            ColType::F64 => "f64",
            ColType::Bool => "bool",
            ColType::Date => "date",
        }
    }
}

/// One column of a contract table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    /// The allowed values, for enumerated string columns.
    pub values: Option<&'static [&'static str]>,
    pub meaning: &'static str,
}

/// One contract table.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub korean: &'static str,
    pub required: bool,
    /// The column(s) that identify a row, when the contract says they are unique.
    pub key: &'static [&'static str],
    /// Foreign keys: `(column, parent table)`, the column holding the parent's (one-column)
    /// key. Parents come before their children in [`TABLES`].
    pub refs: &'static [(&'static str, &'static str)],
    /// The date that places a row in time: rows dated after the reference date are ignored.
    /// (Diagnoses take their claim's `start_date`.)
    pub event_date: Option<&'static str>,
    pub columns: &'static [Column],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether the table's rows take their date from their claim: its event date is not one
    /// of its own columns (the diagnoses' `start_date` is their claim's).
    pub fn takes_claim_date(&self) -> bool {
        self.event_date.is_some_and(|d| self.column(d).is_none())
    }

    pub fn column_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|c| c.name)
    }
}

const fn col(name: &'static str, ty: ColType, meaning: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        values: None,
        meaning,
    }
}
const fn opt(name: &'static str, ty: ColType, meaning: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        values: None,
        meaning,
    }
}
const fn enm(name: &'static str, values: &'static [&'static str], meaning: &'static str) -> Column {
    Column {
        name,
        ty: ColType::Str,
        nullable: false,
        values: Some(values),
        meaning,
    }
}

use ColType::*;

pub const SEXES: &[&str] = &["M", "F"];
pub const INSURANCE_TYPES: &[&str] = &["NHI", "MA1", "MA2"];
pub const PROVIDER_KINDS: &[&str] = &[
    "01", "11", "21", "28", "29", "31", "41", "51", "71", "81", "92", "93",
];
pub const CARE_TYPES: &[&str] = &["IN", "OUT", "ER", "RX"];
pub const LTC_STATUSES: &[&str] = &["PENDING", "DECIDED", "WITHDRAWN"];
pub const LTC_GRADES: &[&str] = &["1", "2", "3", "4", "5", "CS", "A", "B", "C"];
pub const SERVICE_TYPES: &[&str] = &[
    "HOME_CARE",
    "HOME_BATH",
    "HOME_NURSING",
    "DAY_NIGHT",
    "SHORT_STAY",
    "WELFARE_EQUIP",
    "FACILITY",
];
pub const PROGRAM_STATUSES: &[&str] = &["SENT", "ENROLLED", "DECLINED", "INELIGIBLE"];

pub const PERSONS: Table = Table {
    name: "persons",
    korean: "자격",
    required: true,
    key: &["person_id"],
    refs: &[],
    event_date: None,
    columns: &[
        col("person_id", Str, "pseudonymous id, unique, non-empty"),
        col("birth_year", I32, "year of birth"),
        enm("sex", SEXES, "M or F"),
        opt(
            "sgg_code",
            Str,
            "5-digit 시군구 code of residence; null = unknown",
        ),
        enm(
            "insurance_type",
            INSURANCE_TYPES,
            "NHI 건강보험, MA1/MA2 의료급여",
        ),
        opt("income_decile", I32, "보험료 분위 1–10; null for 의료급여"),
        col("disability", Bool, "registered disability (등록장애인)"),
        opt("death_date", Date, "date of death, null if alive"),
    ],
};

pub const CLAIMS: Table = Table {
    name: "claims",
    korean: "명세서",
    required: true,
    key: &["claim_id"],
    refs: &[("person_id", "persons")],
    event_date: Some("start_date"),
    columns: &[
        col("claim_id", Str, "unique"),
        col("person_id", Str, "→ persons"),
        col("provider_id", Str, "pseudonymous provider (요양기관) id"),
        enm("provider_kind", PROVIDER_KINDS, "요양기관 종별"),
        enm("care_type", CARE_TYPES, "IN / OUT / ER / RX"),
        col("start_date", Date, "요양개시일"),
        opt(
            "end_date",
            Date,
            "discharge date for IN; null = still admitted",
        ),
        col("cost_krw", I64, "총진료비 in won, ≥ 0"),
    ],
};

pub const DIAGNOSES: Table = Table {
    name: "diagnoses",
    korean: "상병내역",
    required: true,
    key: &[],
    refs: &[("claim_id", "claims"), ("person_id", "persons")],
    event_date: Some("start_date"),
    columns: &[
        col("claim_id", Str, "→ claims"),
        col("person_id", Str, "→ persons"),
        col(
            "dx_code",
            Str,
            "KCD code, upper case, no dot, 3–6 characters",
        ),
        col("dx_order", I32, "1 = 주상병, 2.. = 부상병"),
    ],
};

pub const PRESCRIPTIONS: Table = Table {
    name: "prescriptions",
    korean: "처방·조제 내역",
    required: true,
    key: &[],
    refs: &[("claim_id", "claims"), ("person_id", "persons")],
    event_date: Some("start_date"),
    columns: &[
        col("claim_id", Str, "→ claims"),
        col("person_id", Str, "→ persons"),
        col("ingredient_code", Str, "9-character 주성분코드"),
        col("start_date", Date, "dispensing date"),
        col("days_supply", I32, "투여일수, ≥ 1"),
    ],
};

pub const LTC_ASSESSMENTS: Table = Table {
    name: "ltc_assessments",
    korean: "장기요양 신청·판정",
    required: true,
    key: &["application_id"],
    refs: &[("person_id", "persons")],
    event_date: Some("application_date"),
    columns: &[
        col("application_id", Str, "unique"),
        col("person_id", Str, "→ persons"),
        col("application_date", Date, "신청일"),
        enm("status", LTC_STATUSES, "PENDING / DECIDED / WITHDRAWN"),
        opt("decision_date", Date, "판정일; null unless DECIDED"),
        Column {
            name: "grade",
            ty: Str,
            nullable: true,
            values: Some(LTC_GRADES),
            meaning: "1–5, CS, A/B/C",
        },
        opt("score", F64, "장기요양인정점수 0–100"),
        opt("valid_until", Date, "end of the recognition period"),
    ],
};

pub const LTC_SERVICES: Table = Table {
    name: "ltc_services",
    korean: "장기요양 급여 이용",
    required: true,
    key: &["person_id", "service_month", "service_type"],
    refs: &[("person_id", "persons")],
    event_date: Some("service_month"),
    columns: &[
        col("person_id", Str, "→ persons"),
        col("service_month", Date, "first day of the month of use"),
        enm("service_type", SERVICE_TYPES, "재가급여 / 시설급여"),
        col("days", I32, "days of use in the month, 1–31"),
        col("cost_krw", I64, "≥ 0"),
    ],
};

pub const PROGRAM_HISTORY: Table = Table {
    name: "program_history",
    korean: "발굴·연계 이력",
    required: false,
    key: &[],
    refs: &[("person_id", "persons")],
    event_date: Some("event_month"),
    columns: &[
        col("person_id", Str, "→ persons"),
        col("sgg_code", Str, "municipality that handled the person"),
        col("event_month", Date, "first day of the month of the event"),
        enm(
            "status",
            PROGRAM_STATUSES,
            "SENT / ENROLLED / DECLINED / INELIGIBLE",
        ),
    ],
};

/// Every table of the contract, in the order the contract lists them.
pub const TABLES: &[Table] = &[
    PERSONS,
    CLAIMS,
    DIAGNOSES,
    PRESCRIPTIONS,
    LTC_ASSESSMENTS,
    LTC_SERVICES,
    PROGRAM_HISTORY,
];

/// Looks a table up by its contract name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}
