//! The extract loader: the three forms of a table, schema errors with their exact messages,
//! codes that keep their leading zeros, extract.toml.

mod common;

use balgul::extract::{Extract, ExtractError, TableSource};
use common::*;
use polars::prelude::*;

fn strings(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    df.column(col)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

#[test]
fn csv_tables_load_with_contract_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(dir.path(), &tiny(), Some("2026-10-31"));
    let ex = Extract::open(dir.path()).unwrap();
    assert_eq!(ex.meta.as_of.unwrap().to_string(), "2026-10-31");
    let claims = ex.lazy("claims").collect().unwrap();
    let schema = claims.schema();
    assert_eq!(schema.get("start_date"), Some(&DataType::Date));
    assert_eq!(schema.get("end_date"), Some(&DataType::Date));
    assert_eq!(schema.get("cost_krw"), Some(&DataType::Int64));
    assert_eq!(schema.get("provider_kind"), Some(&DataType::String));
    let persons = ex.lazy("persons").collect().unwrap();
    assert_eq!(persons.schema().get("birth_year"), Some(&DataType::Int32));
    assert_eq!(persons.schema().get("disability"), Some(&DataType::Boolean));
    // Empty fields are nulls, in text and date columns alike.
    assert_eq!(
        strings(&persons, "sgg_code"),
        vec![Some("11110".into()), Some("45110".into()), None]
    );
    assert_eq!(persons.column("death_date").unwrap().null_count(), 2);
}

#[test]
fn csv_codes_keep_leading_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny();
    // A 시군구 code and a provider kind that a number parser would turn into 1111 and 1.
    t.insert(
        "persons",
        PERSONS.replace("P1,1950,F,11110", "P1,1950,F,01110"),
    );
    write_csv(dir.path(), &t, None);
    let persons = frame_of(dir.path(), "persons");
    assert_eq!(strings(&persons, "sgg_code")[0].as_deref(), Some("01110"));
    let claims = frame_of(dir.path(), "claims");
    assert_eq!(
        strings(&claims, "provider_kind"),
        vec![Some("01".into()), Some("31".into()), Some("28".into())]
    );
    let dx = frame_of(dir.path(), "diagnoses");
    assert_eq!(strings(&dx, "dx_code")[0].as_deref(), Some("S7200"));
}

#[test]
fn each_table_is_found_in_each_of_its_three_forms() {
    let csv_dir = tempfile::tempdir().unwrap();
    write_csv(csv_dir.path(), &tiny(), None);
    let expected: Vec<(String, DataFrame)> = balgul::contract::TABLES
        .iter()
        .map(|t| (t.name.to_string(), frame_of(csv_dir.path(), t.name)))
        .collect();

    // Parquet file per table.
    let pq = tempfile::tempdir().unwrap();
    for (name, df) in &expected {
        write_parquet(&pq.path().join(format!("{name}.parquet")), df);
    }
    // A directory of Parquet parts per table: the rows split over two parts.
    let parts = tempfile::tempdir().unwrap();
    for (name, df) in &expected {
        let d = parts.path().join(name);
        std::fs::create_dir(&d).unwrap();
        let h = df.height() as i64;
        write_parquet(
            &d.join("part-00000.parquet"),
            &df.slice(0, (h / 2) as usize),
        );
        write_parquet(&d.join("part-00001.parquet"), &df.slice(h / 2, df.height()));
    }
    for (dir, kind) in [
        (csv_dir.path(), "csv"),
        (pq.path(), "parquet"),
        (parts.path(), "parts"),
    ] {
        let ex = Extract::open(dir).unwrap();
        for (name, want) in &expected {
            let t = ex.table(name);
            match (kind, &t.source) {
                ("csv", TableSource::CsvFile(_)) | ("parquet", TableSource::ParquetFile(_)) => {}
                ("parts", TableSource::ParquetParts { parts, .. }) => assert_eq!(parts.len(), 2),
                (k, s) => panic!("{name} in the {k} extract was found as {s:?}"),
            }
            let got = t.lazy().collect().unwrap();
            assert!(
                got.equals_missing(want),
                "{name} from {kind} differs:\n{got}\n{want}"
            );
        }
    }
}

#[test]
fn parts_directory_wins_over_file_and_file_over_csv() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(dir.path(), &tiny(), None);
    let persons = frame_of(dir.path(), "persons");
    write_parquet(&dir.path().join("persons.parquet"), &persons.slice(0, 1));
    assert_eq!(
        Extract::open(dir.path())
            .unwrap()
            .lazy("persons")
            .collect()
            .unwrap()
            .height(),
        1
    );
    std::fs::create_dir(dir.path().join("persons")).unwrap();
    write_parquet(
        &dir.path().join("persons/part-0.parquet"),
        &persons.slice(0, 2),
    );
    assert_eq!(
        Extract::open(dir.path())
            .unwrap()
            .lazy("persons")
            .collect()
            .unwrap()
            .height(),
        2
    );
}

#[test]
fn program_history_is_optional_and_absent_means_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny();
    t.remove("program_history");
    write_csv(dir.path(), &t, None);
    let ex = Extract::open(dir.path()).unwrap();
    let ph = ex.table("program_history");
    assert_eq!(ph.source, TableSource::Absent);
    let df = ph.lazy().collect().unwrap();
    assert_eq!(df.height(), 0);
    assert_eq!(df.schema().get("event_month"), Some(&DataType::Date));
}

#[test]
fn missing_required_table_names_the_three_forms() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny();
    t.remove("claims");
    write_csv(dir.path(), &t, None);
    let err = Extract::open(dir.path()).err().unwrap();
    assert!(matches!(
        err,
        ExtractError::MissingTable {
            table: "claims",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "the extract in `{}` has no `claims` table: looked for `claims/` (a directory of Parquet parts), `claims.parquet` and `claims.csv`.\n  fix: add the table, or point --mapping at a file that says where it is",
            dir.path().display()
        )
    );
}

#[test]
fn missing_column_names_file_column_type_and_what_was_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny();
    t.insert("claims", CLAIMS.replace("care_type,", "caretype,"));
    write_csv(dir.path(), &t, None);
    let err = Extract::open(dir.path()).err().unwrap().to_string();
    let file = dir.path().join("claims.csv");
    assert_eq!(
        err,
        format!(
            "{}: column `care_type` is missing (table `claims`, expected type str).\n  found columns: claim_id, person_id, provider_id, provider_kind, caretype, start_date, end_date, cost_krw\n  fix: rename the column to `care_type`, or map it with --mapping",
            file.display()
        )
    );
}

#[test]
fn wrong_type_in_parquet_names_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(dir.path(), &tiny(), None);
    // start_date written as text (the way a YYYYMMDD warehouse column arrives).
    let claims = frame_of(dir.path(), "claims")
        .lazy()
        .with_column(col("start_date").dt().strftime("%Y%m%d"))
        .collect()
        .unwrap();
    std::fs::remove_file(dir.path().join("claims.csv")).unwrap();
    write_parquet(&dir.path().join("claims.parquet"), &claims);
    let err = Extract::open(dir.path()).err().unwrap();
    assert!(matches!(
        err,
        ExtractError::WrongType {
            column: "start_date",
            ..
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: column `start_date` has type str, expected date (table `claims`).\n  fix: write it as a date column",
            dir.path().join("claims.parquet").display()
        )),
        "{msg}"
    );
}

#[test]
fn narrower_integers_in_parquet_are_widened() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(dir.path(), &tiny(), None);
    let claims = frame_of(dir.path(), "claims")
        .lazy()
        .with_column(col("cost_krw").cast(DataType::Int32))
        .collect()
        .unwrap();
    std::fs::remove_file(dir.path().join("claims.csv")).unwrap();
    write_parquet(&dir.path().join("claims.parquet"), &claims);
    let got = Extract::open(dir.path())
        .unwrap()
        .lazy("claims")
        .collect()
        .unwrap();
    assert_eq!(got.schema().get("cost_krw"), Some(&DataType::Int64));
}

#[test]
fn extra_columns_are_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny();
    t.insert("ltc_services", "person_id,service_month,service_type,days,cost_krw,note\nP2,2026-09-01,HOME_CARE,20,1200000,x\n".into());
    write_csv(dir.path(), &t, None);
    let df = frame_of(dir.path(), "ltc_services");
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "person_id",
            "service_month",
            "service_type",
            "days",
            "cost_krw"
        ]
    );
}

#[test]
fn empty_parts_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny();
    t.remove("claims");
    write_csv(dir.path(), &t, None);
    std::fs::create_dir(dir.path().join("claims")).unwrap();
    let err = Extract::open(dir.path()).err().unwrap().to_string();
    assert_eq!(
        err,
        format!(
            "`{}/` holds no `*.parquet` file: a table directory must hold the table's Parquet parts",
            dir.path().join("claims").display()
        )
    );
}

#[test]
fn extract_toml_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(dir.path(), &tiny(), None);
    std::fs::write(
        dir.path().join("extract.toml"),
        "as_of = \"2026-10-31\"\nasof = \"2026-10-31\"\n",
    )
    .unwrap();
    let err = Extract::open(dir.path()).err().unwrap().to_string();
    assert!(
        err.starts_with(&format!(
            "{}:2: unknown field `asof`",
            dir.path().join("extract.toml").display()
        )),
        "{err}"
    );
}

#[test]
fn not_a_directory() {
    let err = Extract::open(std::path::Path::new("/nonexistent/extract"))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "`/nonexistent/extract` is not a directory: --data takes the directory that holds the extract's tables"
    );
}

#[test]
fn reference_date_prefers_the_flag_then_extract_toml() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(dir.path(), &tiny(), None);
    let ex = Extract::open(dir.path()).unwrap();
    let err = ex.reference_date(None).err().unwrap().to_string();
    assert!(err.contains("fix: pass --as-of YYYY-MM-DD"), "{err}");
    let d = chrono::NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
    assert_eq!(ex.reference_date(Some(d)).unwrap(), d);
}
