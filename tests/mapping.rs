//! Column mapping: the shipped NHIS-NSC 2.0 example on a tiny extract written in that
//! layout's own names, and the mapping file's errors.

use std::path::Path;

use balgul::extract::{Extract, Mapping, TableSource};
use polars::prelude::*;

const NSC2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/mappings/nhis-nsc2.toml");

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Three people, four claims (a stay, an outpatient visit, an ER visit, a pharmacy claim).
fn nsc2_extract(dir: &Path) {
    write(
        dir,
        "BND.csv",
        "RN_INDI,BTH_YYYY,SEX,SGG,GAIBJA_TYPE,CTRB_Q10,DTH_YYYYMM\n\
        100001,1948,1,11110,5,4,\n\
        100002,1939,2,45110,7,0,202607\n\
        100003,1955,2,26110,1,10,\n",
    );
    write(
        dir,
        "M20.csv",
        "RN_KEY,RN_INDI,RN_INST,MDCARE_STRT_DT,FORM_CD,VSHSP_DD_CNT,DSBJT_CD,MCARE_RSLT_TYPE,ED_RC_TOT_AMT\n\
        2026000001,100001,9001,20260901,02,20,01,5,3000000\n\
        2026000002,100001,9002,20261002,03,1,01,1,25000\n\
        2026000003,100002,9003,20261010,03,1,24,1,180000\n\
        2026000004,100001,9004,20261002,08,1,00,1,18000\n",
    );
    write(
        dir,
        "M40.csv",
        "RN_KEY,RN_INDI,MCEX_SICK_SYM,SICK_CLSF_TYPE\n\
        2026000001,100001,s7200,1\n\
        2026000001,100001,I10,2\n\
        2026000003,100002,F001,1\n",
    );
    write(
        dir,
        "M60.csv",
        "RN_KEY,RN_INDI,GNL_NM_CD,TOT_MCNT\n\
        2026000004,100001,101301ATB,30\n",
    );
}

#[test]
fn nsc2_layout_loads_into_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    nsc2_extract(dir.path());
    let m = Mapping::from_file(Path::new(NSC2)).unwrap();
    let ex = Extract::open_with(dir.path(), Some(&m)).unwrap();

    let p = ex
        .lazy("persons")
        .sort(["person_id"], Default::default())
        .collect()
        .unwrap();
    assert_eq!(
        format!(
            "{:?}",
            p.column("sex")
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .collect::<Vec<_>>()
        ),
        r#"[Some("M"), Some("F"), Some("F")]"#
    );
    let ins: Vec<_> = p
        .column("insurance_type")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(ins, ["NHI", "MA1", "NHI"]);
    let dec: Vec<_> = p
        .column("income_decile")
        .unwrap()
        .i32()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(dec, [Some(4), None, Some(10)]);
    let death = p
        .column("death_date")
        .unwrap()
        .cast(&DataType::String)
        .unwrap();
    assert_eq!(
        death.str().unwrap().iter().collect::<Vec<_>>(),
        [None, Some("2026-07-01"), None]
    );
    assert_eq!(p.column("birth_year").unwrap().dtype(), &DataType::Int32);

    let c = ex
        .lazy("claims")
        .sort(["claim_id"], Default::default())
        .collect()
        .unwrap();
    let care: Vec<_> = c
        .column("care_type")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(care, ["IN", "OUT", "ER", "RX"]);
    let kinds: Vec<_> = c
        .column("provider_kind")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(kinds, ["21", "31", "31", "81"]);
    let end = c
        .column("end_date")
        .unwrap()
        .cast(&DataType::String)
        .unwrap();
    // a 20-day stay from 2026-09-01 ends on 2026-09-20; visits end the day they start
    assert_eq!(end.str().unwrap().get(0), Some("2026-09-20"));
    assert_eq!(end.str().unwrap().get(1), Some("2026-10-02"));
    assert_eq!(c.column("cost_krw").unwrap().dtype(), &DataType::Int64);

    let dx = ex.lazy("diagnoses").collect().unwrap();
    let codes: Vec<_> = dx
        .column("dx_code")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(codes, ["S7200", "I10", "F001"]);
    let order: Vec<_> = dx
        .column("dx_order")
        .unwrap()
        .i32()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(order, [1, 2, 1]);

    // The prescription takes its date from its claim.
    let rx = ex.lazy("prescriptions").collect().unwrap();
    let d = rx
        .column("start_date")
        .unwrap()
        .cast(&DataType::String)
        .unwrap();
    assert_eq!(d.str().unwrap().get(0), Some("2026-10-02"));
    assert_eq!(
        rx.column("days_supply").unwrap().i32().unwrap().get(0),
        Some(30)
    );

    // What the layout cannot supply stands as empty tables, and the mapping says why.
    for t in ["ltc_assessments", "ltc_services", "program_history"] {
        assert_eq!(ex.table(t).source, TableSource::Absent);
        assert_eq!(ex.lazy(t).collect().unwrap().height(), 0);
    }
    let absent: Vec<_> = m.absent_tables().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        absent,
        ["ltc_assessments", "ltc_services", "program_history"]
    );

    // And the result meets the contract row by row.
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    assert_eq!(balgul::validate::check(&ex, as_of).unwrap(), vec![]);
}

#[test]
fn unknown_key_in_a_mapping_file_is_an_error_with_its_place() {
    let text = "[mapping]\nname = \"x\"\n\n[claims]\nform = \"M20\"\n";
    let err = Mapping::parse(Path::new("m.toml"), text)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("m.toml:5:1: unknown field `form`, expected one of"),
        "{err}"
    );
}

#[test]
fn a_column_that_is_not_in_the_contract_is_an_error() {
    let text = "[mapping]\nname = \"x\"\n\n[claims.columns]\ncaretype = \"FORM_CD\"\n";
    let err = Mapping::parse(Path::new("m.toml"), text)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("m.toml:5:12: `caretype` is not a column of the contract table `claims`"),
        "{err}"
    );
}

#[test]
fn a_syntax_error_points_into_the_expression() {
    let text = "[mapping]\nname = \"x\"\n\n[claims.columns]\ncare_type = \"if(FORM_CD == '02' && 1, 'IN', 'OUT')\"\n";
    let err = Mapping::parse(Path::new("m.toml"), text)
        .err()
        .unwrap()
        .to_string();
    // `&&` starts at column 33 of line 5
    assert!(err.starts_with("m.toml:5:33: "), "{err}");
    assert!(err.contains("use `and`"), "{err}");
}

#[test]
fn a_source_column_that_does_not_exist_names_the_file_and_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    nsc2_extract(dir.path());
    let text = std::fs::read_to_string(NSC2).unwrap().replace(
        "ymd(MDCARE_STRT_DT)\"\n# discharge",
        "ymd(MDCARE_START)\"\n# discharge",
    );
    let m = Mapping::parse(Path::new("nsc2.toml"), &text).unwrap();
    let err = Extract::open_with(dir.path(), Some(&m))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!(
            "no column `MDCARE_START` in {}",
            dir.path().join("M20.csv").display()
        )),
        "{err}"
    );
    assert!(err.starts_with("nsc2.toml:"), "{err}");
}
