//! Reading timeseries.csv as a stream: the header names the columns
//! (unknown ones are skipped, missing ones stay empty), every known cell
//! must be a number, and each row is handed on as it is read, so reading
//! keeps no copy of the file's rows.

use super::Col;

/// One row as read: its time, its node and the values of the known columns
/// (`cols[k]` says which column `values[k]` fills).
pub(super) struct CsvRow<'a> {
    pub time: f64,
    pub node: &'a str,
    pub cols: &'a [Option<Col>],
    pub values: &'a [f64],
}

/// Reads timeseries.csv (a header starting `time_s,node`, then numbers)
/// and calls `row` for each row in order; stops at the first error of
/// either.
pub(super) fn for_each_row(bytes: &[u8], mut row: impl FnMut(CsvRow<'_>) -> Result<(), String>) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let header = reader.byte_headers().map_err(|e| format!("timeseries.csv: cannot read the header: {e}"))?.clone();
    let names: Vec<&str> = header.iter().map(|h| std::str::from_utf8(h).unwrap_or("").trim()).collect();
    if names.first() != Some(&"time_s") || names.get(1) != Some(&"node") {
        return Err("timeseries.csv: the header should start with `time_s,node`".to_string());
    }
    let cols: Vec<Option<Col>> = names[2..].iter().map(|n| Col::from_header(n)).collect();
    let max_rows = crate::model::budget::MAX_ROWS as usize;
    let mut record = csv::ByteRecord::new();
    let mut values = vec![0.0; cols.len()];
    for rows in 0.. {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(format!("timeseries.csv: {e}")),
        }
        if rows >= max_rows {
            return Err(format!("timeseries.csv: more than {max_rows} rows"));
        }
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| -> Result<f64, String> {
            let text = std::str::from_utf8(record.get(i).unwrap_or(b"")).unwrap_or("").trim();
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(format!("timeseries.csv line {line}: column `{}`: `{text}` is not a number", names[i])),
            }
        };
        let time = field(0)?;
        let node = std::str::from_utf8(record.get(1).unwrap_or(b"")).unwrap_or("").trim();
        if node.is_empty() {
            return Err(format!("timeseries.csv line {line}: the node name is empty"));
        }
        for (k, col) in cols.iter().enumerate() {
            let empty = record.get(k + 2).is_some_and(|f| f.iter().all(u8::is_ascii_whitespace));
            values[k] = match col {
                // A bucket without answers has no latency: an empty cell.
                Some(c) if empty && c.may_be_empty() => f64::NAN,
                Some(_) => field(k + 2)?,
                None => 0.0,
            };
        }
        row(CsvRow { time, node, cols: &cols, values: &values })?;
    }
    Ok(())
}
