//! Reading timeseries.csv: the header names the columns (unknown ones are
//! skipped, missing ones stay empty), every known cell must be a number.

use super::Col;

/// timeseries.csv as read: distinct bucket starts, nodes in order of first
/// appearance, and per row the values of the known columns.
pub(super) struct CsvTable {
    pub times: Vec<f64>,
    pub node_order: Vec<String>,
    /// For each CSV column after `time_s,node`: the column it fills, if known.
    pub cols: Vec<Option<Col>>,
    pub rows: Vec<CsvRow>,
}

pub(super) struct CsvRow {
    pub bucket: usize,
    pub node: usize,
    pub values: Vec<f64>,
}

/// Reads timeseries.csv: a header starting `time_s,node`, then numbers.
pub(super) fn read(bytes: &[u8]) -> Result<CsvTable, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let header = reader.byte_headers().map_err(|e| format!("timeseries.csv: cannot read the header: {e}"))?.clone();
    let names: Vec<&str> = header.iter().map(|h| std::str::from_utf8(h).unwrap_or("").trim()).collect();
    if names.first() != Some(&"time_s") || names.get(1) != Some(&"node") {
        return Err("timeseries.csv: the header should start with `time_s,node`".to_string());
    }
    let cols: Vec<Option<Col>> = names[2..].iter().map(|n| Col::from_header(n)).collect();
    let mut node_order: Vec<String> = Vec::new();
    let mut node_index: std::collections::BTreeMap<String, usize> = Default::default();
    let max_rows = crate::model::budget::MAX_ROWS as usize;
    let mut raw: Vec<(f64, usize, Vec<f64>)> = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(format!("timeseries.csv: {e}")),
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
        let name = std::str::from_utf8(record.get(1).unwrap_or(b"")).unwrap_or("").trim();
        if name.is_empty() {
            return Err(format!("timeseries.csv line {line}: the node name is empty"));
        }
        let node = match node_index.get(name) {
            Some(&i) => i,
            None => {
                if node_order.len() >= crate::model::budget::MAX_NODES {
                    return Err(format!("timeseries.csv: more than {} nodes", crate::model::budget::MAX_NODES));
                }
                node_index.insert(name.to_string(), node_order.len());
                node_order.push(name.to_string());
                node_order.len() - 1
            }
        };
        if raw.len() >= max_rows {
            return Err(format!("timeseries.csv: more than {max_rows} rows"));
        }
        let mut values = Vec::with_capacity(cols.len());
        for (k, col) in cols.iter().enumerate() {
            let empty = record.get(k + 2).is_some_and(|f| f.iter().all(u8::is_ascii_whitespace));
            values.push(match col {
                // A bucket without answers has no latency: an empty cell.
                Some(c) if empty && c.may_be_empty() => f64::NAN,
                Some(_) => field(k + 2)?,
                None => 0.0,
            });
        }
        raw.push((time, node, values));
    }
    let mut times: Vec<f64> = raw.iter().map(|r| r.0).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let rows = raw
        .into_iter()
        .map(|(t, node, values)| {
            let bucket = times.binary_search_by(|x| x.total_cmp(&t)).expect("every time was collected");
            CsvRow { bucket, node, values }
        })
        .collect();
    Ok(CsvTable { times, node_order, cols, rows })
}
