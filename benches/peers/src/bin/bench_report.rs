//! Writes the figures of one `benches/run.sh` run into BENCHMARKS.md.
//!
//! ```text
//! bench_report BENCHMARKS.md TARGET_DIR COMMAND [--only SECTION]
//! ```
//!
//! Reads criterion's medians (`TARGET_DIR/criterion/**/new/estimates.json`) and
//! the other benches' figures (`TARGET_DIR/bench-report/*.json`), and replaces
//! the text between each `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`
//! marker pair with a freshly generated table. Text outside the markers is
//! left alone. Fails if a figure is missing, so a half-run never lands.
//!
//! `--only pacing_load` rewrites that one self-contained section (its table,
//! its rotations and its own goals) from its figures alone, after running just
//! `pacing_load`; every other section needs the whole run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

type Figures = BTreeMap<String, f64>;

/// A table of criterion rows: each row's median, its ratio to the limit row
/// and to our row, for each column (a thread count, say).
struct Table {
    marker: &'static str,
    /// `(heading, criterion group)` per column.
    columns: &'static [(&'static str, &'static str)],
    /// `(function id, what it is)` per row.
    rows: &'static [(&'static str, &'static str)],
    /// The limit and our row: a function id in the same group, or a full id
    /// (`group/function`) elsewhere.
    limit: &'static str,
    ours: &'static str,
}

const TOKEN_CACHE: Table = Table {
    marker: "token_cache",
    columns: &[
        ("1 thread", "token_cache_hit/1_threads"),
        ("2 threads", "token_cache_hit/2_threads"),
    ],
    rows: &[
        (
            "arcswap_load_full",
            "bare `ArcSwap::load_full`, no clock read: **the limit**",
        ),
        (
            "arcswap_load_full_now",
            "the same plus `Instant::now()` (the naive freshness check)",
        ),
        (
            "cached_token",
            "**ours: `CachedTokenSource::cached_token()`, fresh token: the hit path**",
        ),
        (
            "token_await",
            "ours through `CachedTokenSource::token().await` (hit or wait for a refresh)",
        ),
        (
            "tokio_rwlock",
            "the cache behind `tokio::sync::RwLock` with a clock check",
        ),
        (
            "std_mutex",
            "the cache behind `std::sync::Mutex` with a clock check (Go's `ReuseTokenSource` style)",
        ),
    ],
    limit: "arcswap_load_full",
    ours: "cached_token",
};

const TOKEN_CACHE_PEERS: Table = Table {
    marker: "token_cache_peers",
    columns: &[
        ("1 thread", "token_cache_peers/1_threads"),
        ("2 threads", "token_cache_peers/2_threads"),
    ],
    rows: &[
        (
            "arcswap_load_full",
            "bare `ArcSwap::load_full`: **the limit**",
        ),
        (
            "cached_token",
            "**ours: `CachedTokenSource::cached_token()`, the hit path**",
        ),
        (
            "token_await",
            "ours through `CachedTokenSource::token().await`",
        ),
        (
            "aliri_token_watcher_borrow",
            "`aliri_tokens` `TokenWatcher::token()`: a borrow (read lock), token length read",
        ),
        (
            "aliri_token_watcher_owned",
            "the same, access token cloned out of the borrow (needed before an `.await`)",
        ),
        (
            "huskarl_cache_token",
            "`huskarl` 0.11 `InMemoryTokenCache::token().await` over a client-credentials `GrantTokenSource` (two wall-clock reads per hit)",
        ),
    ],
    limit: "arcswap_load_full",
    ours: "cached_token",
};

const MIDDLEWARE: Table = Table {
    marker: "middleware",
    columns: &[("median", "get_with_token")],
    rows: &[
        (
            "plain_reqwest_by_hand",
            "plain `reqwest::Client`, `Authorization` set by hand from a header value built once: **the floor**",
        ),
        (
            "middleware_client_by_hand",
            "the same through a `ClientWithMiddleware` with no middleware",
        ),
        (
            "bearer_auth",
            "**ours: through `BearerAuth` over a warm `CachedTokenSource`**",
        ),
    ],
    limit: "plain_reqwest_by_hand",
    ours: "bearer_auth",
};

const VALIDATION: Table = Table {
    marker: "validation",
    columns: &[("median", "jwt_validation")],
    rows: &[
        (
            "aws_lc_verify_sig",
            "aws-lc-rs `verify_sig` with the key parsed once and the signature decoded once: **the limit**",
        ),
        (
            "jwt_validator_cold",
            "**ours, cold: `JwtValidator::validate`, verified-token cache off**",
        ),
        (
            "jwt_validator_cached",
            "**ours, cached: the default validator, the same token again**",
        ),
        (
            "jsonwebtoken_decode",
            "`jsonwebtoken` 11 (aws-lc-rs): `decode_header` for the `kid`, `DecodingKey` from a map built once, `decode`",
        ),
        (
            "huskarl_rfc9068_validate_request",
            "`huskarl-resource-server` 0.11 `Rfc9068Validator::validate_request` (RustCrypto `rsa`) on a header map built once; it has no verified-token cache",
        ),
    ],
    limit: "aws_lc_verify_sig",
    ours: "jwt_validator_cold",
};

const VALIDATION_TOWER: Table = Table {
    marker: "validation_tower",
    columns: &[("median", "jwt_validation_tower")],
    rows: &[
        (
            "erpnet_service_cold",
            "**ours, cold, in a tower service shaped like jwt-authorizer's**",
        ),
        (
            "erpnet_service_cached",
            "**ours, cached, in the same service**",
        ),
        (
            "jwt_authorizer_layer",
            "`jwt-authorizer` 0.15 layer over the mock's JWKS",
        ),
        (
            "huskarl_service",
            "`huskarl-resource-server` 0.11 `Rfc9068Validator` in the same service as ours (huskarl has no tower layer)",
        ),
    ],
    limit: "jwt_validation/aws_lc_verify_sig",
    ours: "erpnet_service_cold",
};

const UNKNOWN_KID: Table = Table {
    marker: "unknown_kid",
    columns: &[("median", "jwt_unknown_kid")],
    rows: &[
        (
            "erpnet_service_unknown_kid",
            "**ours**: a token whose `kid` the JWKS lacks, refused",
        ),
        (
            "jwt_authorizer_unknown_kid",
            "`jwt-authorizer`: the same token",
        ),
        (
            "huskarl_service_unknown_kid",
            "`huskarl-resource-server`: the same token",
        ),
    ],
    limit: "jwt_validation/aws_lc_verify_sig",
    ours: "erpnet_service_unknown_kid",
};

const VALIDATION_OURS: Table = Table {
    marker: "validation_ours",
    columns: &[("median", "validation")],
    rows: &[
        (
            "bare_rsa_verify",
            "aws-lc-rs `verify_sig` of the signing input, key parsed and signature decoded beforehand: **the limit**",
        ),
        (
            "validate_cold",
            "**ours: `JwtValidator::validate_now`, verified-token cache off: size, header, key, signature, the checked claims**",
        ),
        (
            "jsonwebtoken_decode",
            "`jsonwebtoken::decode` 11 (aws-lc-rs), `DecodingKey::from_rsa_components` built once",
        ),
        (
            "validate_seen",
            "ours: a token already in the verified-token cache",
        ),
        (
            "validate_cold_100_issuers",
            "ours, cold, through a validator of 100 issuers (`Issuers`, every one held): the token's `iss` picks the key set",
        ),
        (
            "validate_seen_100_issuers",
            "ours, seen before, through the same validator of 100 issuers",
        ),
    ],
    limit: "bare_rsa_verify",
    ours: "validate_cold",
};

const LAYER: Table = Table {
    marker: "layer",
    columns: &[("median", "layer")],
    rows: &[
        ("no_layer", "the route alone: **the limit**"),
        (
            "noop_layer",
            "the route behind `MapRequestLayer` with the identity: what axum's `Router::layer` costs by itself",
        ),
        (
            "validate_bearer",
            "**ours: the route behind `ValidateBearerLayer`, token in the verified-token cache**",
        ),
        (
            "validate_bearer_scopes_claims",
            "the stack of `examples/api_server`: the layer, `RequireScopesLayer`, a handler taking `Claims`",
        ),
    ],
    limit: "no_layer",
    ours: "validate_bearer",
};

const LAYER_LOOPBACK: Table = Table {
    marker: "layer_loopback",
    columns: &[("median", "layer")],
    rows: &[
        (
            "loopback_no_layer",
            "the route over loopback HTTP/1.1 (hyper client, `axum::serve`, one kept-alive connection): **the limit**",
        ),
        (
            "loopback_validate_bearer",
            "**ours: the same behind `ValidateBearerLayer`**",
        ),
    ],
    limit: "loopback_no_layer",
    ours: "loopback_validate_bearer",
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (doc, target, command, only) = match &args[..] {
        [doc, target, command] => (doc, target, command, None),
        [doc, target, command, flag, section] if flag == "--only" => {
            (doc, target, command, Some(section.as_str()))
        }
        _ => {
            return Err(
                "usage: bench_report BENCHMARKS.md TARGET_DIR COMMAND [--only SECTION]".into(),
            );
        }
    };
    let target = PathBuf::from(target);
    let reports = target.join("bench-report");
    let json = |name: &str| -> Result<Value, Box<dyn std::error::Error>> {
        let path = reports.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e} (run benches/run.sh)", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    };

    let mut sections = BTreeMap::new();
    sections.insert("pacing_load", pacing_load(&json("pacing_load")?)?);
    match only {
        Some("pacing_load") => return write_sections(doc, &sections),
        Some(other) => {
            return Err(format!(
                "--only: `{other}` needs the whole run; only pacing_load stands alone"
            )
            .into());
        }
        None => {}
    }
    let medians = criterion_medians(&target.join("criterion"))?;
    sections.insert("machine", machine(command));
    for table in [
        &TOKEN_CACHE,
        &TOKEN_CACHE_PEERS,
        &MIDDLEWARE,
        &VALIDATION,
        &VALIDATION_TOWER,
        &UNKNOWN_KID,
        &VALIDATION_OURS,
        &LAYER,
        &LAYER_LOOPBACK,
    ] {
        sections.insert(table.marker, render(table, &medians)?);
    }
    sections.insert(
        "unknown_kid_fetches",
        unknown_kid_fetches(&json("validation_peers")?)?,
    );
    sections.insert("refresh_storm", refresh_storm(&json("refresh_storm")?)?);
    let memory: Vec<Value> = [0, 10_000, 100_000]
        .iter()
        .map(|c| json(&format!("memory_capacity_{c}")))
        .collect::<Result<_, _>>()?;
    sections.insert("memory", memory_table(&memory)?);
    let load = json("layer_load")?;
    sections.insert("layer_load", layer_load(&load)?);
    sections.insert(
        "goals",
        goals(&medians, &json("refresh_storm")?, &memory, &load)?,
    );

    write_sections(doc, &sections)
}

/// Replaces each section's text in `doc`.
fn write_sections(
    doc: &str,
    sections: &BTreeMap<&str, String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut text = std::fs::read_to_string(doc)?;
    for (marker, body) in sections {
        text = replace_section(&text, marker, body)?;
    }
    std::fs::write(doc, text)?;
    println!("{doc}: {} sections written", sections.len());
    Ok(())
}

/// Every criterion benchmark's median, by its full id (`group/function`).
fn criterion_medians(dir: &Path) -> Result<Figures, Box<dyn std::error::Error>> {
    let mut medians = Figures::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.ends_with("new/benchmark.json") {
                let id: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
                let estimates: Value = serde_json::from_str(&std::fs::read_to_string(
                    path.with_file_name("estimates.json"),
                )?)?;
                if let (Some(id), Some(median)) = (
                    id["full_id"].as_str(),
                    estimates["median"]["point_estimate"].as_f64(),
                ) {
                    medians.insert(id.to_owned(), median);
                }
            }
        }
    }
    Ok(medians)
}

fn median_of(medians: &Figures, group: &str, id: &str) -> Result<f64, String> {
    let full = if id.contains('/') {
        id.to_owned()
    } else {
        format!("{group}/{id}")
    };
    medians
        .get(&full)
        .copied()
        .ok_or_else(|| format!("no criterion figure for `{full}` (run benches/run.sh)"))
}

fn render(table: &Table, medians: &Figures) -> Result<String, String> {
    let mut out = String::from("| row | what it is |");
    let mut rule = String::from("|---|---|");
    for (heading, _) in table.columns {
        let _ = write!(out, " {heading} | ÷ limit | ÷ ours |");
        rule.push_str("---:|---:|---:|");
    }
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    for (id, what) in table.rows {
        let _ = write!(out, "| `{id}` | {what} |");
        for (_, group) in table.columns {
            let value = median_of(medians, group, id)?;
            let limit = median_of(medians, group, table.limit)?;
            let ours = median_of(medians, group, table.ours)?;
            let bold = if *id == table.ours { "**" } else { "" };
            let _ = write!(
                out,
                " {bold}{}{bold} | {} | {} |",
                duration(value),
                ratio(value / limit),
                ratio(value / ours)
            );
        }
        out.push('\n');
    }
    Ok(out)
}

fn duration(nanos: f64) -> String {
    if nanos < 1e3 {
        format!("{nanos:.1} ns")
    } else if nanos < 1e6 {
        format!("{:.2} µs", nanos / 1e3)
    } else {
        format!("{:.2} ms", nanos / 1e6)
    }
}

fn ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.2}x")
    }
}

fn machine(command: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB", kib / 1024.0 / 1024.0)
        });
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let rustc = run("rustc", &["--version"]);
    let date = run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let os = run("uname", &["-sr"]);
    format!(
        "Machine of the recorded run: {cores} cores ({cpu}){memory}, {os}, {rustc}; \
         run on {date} with:\n\n```sh\n{command}\n```\n"
    )
}

fn unknown_kid_fetches(figures: &Value) -> Result<String, String> {
    let flood = figures["unknown_kid_flood"]
        .as_object()
        .ok_or("validation_peers.json: no unknown_kid_flood")?;
    let mut out = String::from(
        "| row | tokens refused | over | JWKS fetches caused |\n|---|---:|---:|---:|\n",
    );
    for (name, row) in flood {
        let _ = writeln!(
            out,
            "| `{name}` | {} | {:.1} s | {} |",
            row["refusals"],
            row["seconds"].as_f64().unwrap_or(0.0),
            row["jwks_fetches"]
        );
    }
    Ok(out)
}

fn refresh_storm(figures: &Value) -> Result<String, String> {
    let rows = figures["rows"]
        .as_object()
        .ok_or("refresh_storm.json: no rows")?;
    let mut out = format!(
        "| row | token requests per storm ({} storms) | time until all {} tasks have a token (median) | tasks handed an expired token |\n|---|---:|---:|---:|\n",
        figures["rounds"], figures["tasks"]
    );
    for (name, row) in rows {
        let list = |key: &str| {
            row[key]
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let bold = if name.starts_with("cached_token_source") {
            "**"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| {bold}`{name}`{bold} | {} | {:.1} ms | {} |",
            list("requests"),
            row["median_ms"].as_f64().unwrap_or(0.0),
            list("expired")
        );
    }
    Ok(out)
}

/// The rows of `layer_load.json`: the route without a layer (the limit) and
/// behind ours.
const LOAD_LIMIT: &str = "loopback_load_no_layer";
const LOAD_OURS: &str = "loopback_load_validate_bearer";

fn layer_load(figures: &Value) -> Result<String, String> {
    let row = |name: &str| {
        figures["rows"]
            .get(name)
            .ok_or(format!("layer_load.json: no row {name}"))
    };
    let limit = row(LOAD_LIMIT)?["requests_per_second"]
        .as_f64()
        .ok_or("layer_load.json: no requests_per_second")?;
    let mut out = String::from(
        "| row | what it is | requests/s | ÷ limit | p50 | p99 | errors / requests |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for (name, what) in [
        (LOAD_LIMIT, "the route with no layer: **the limit**"),
        (LOAD_OURS, "**ours: the same behind `ValidateBearerLayer`**"),
    ] {
        let row = row(name)?;
        let number = |key: &str| row[key].as_f64().unwrap_or(0.0);
        let bold = if name == LOAD_OURS { "**" } else { "" };
        let _ = writeln!(
            out,
            "| `{name}` | {what} | {bold}{:.0}{bold} | {} | {:.0} µs | {:.0} µs | {} / {} |",
            number("requests_per_second"),
            ratio(number("requests_per_second") / limit),
            number("p50_ns") / 1e3,
            number("p99_ns") / 1e3,
            thousands(row["errors"].as_u64().unwrap_or(0)),
            thousands(row["requests"].as_u64().unwrap_or(0)),
        );
    }
    let _ = write!(
        out,
        "\n{} connections, {} rounds of {} s per row, the rows taking turns.\n",
        figures["connections"], figures["rounds"], figures["seconds_per_round"]
    );
    Ok(out)
}

/// The rows of `pacing_load.json`: each scenario unpaced, then paced (ours).
const PACING_ROWS: [(&str, &str); 4] = [
    (
        "concurrency_bound_unpaced",
        "150 ms a request, `BearerAuth` alone",
    ),
    (
        "concurrency_bound_paced",
        "**ours: the same through `SessionPacing`**",
    ),
    (
        "rate_bound_unpaced",
        "20 ms a request, `BearerAuth` alone, one minute",
    ),
    (
        "rate_bound_paced",
        "**ours: the same through `SessionPacing`**",
    ),
];

/// The load rows, the rotations and the goals of the pacing bench.
fn pacing_load(figures: &Value) -> Result<String, String> {
    let row = |name: &str| {
        figures["rows"]
            .get(name)
            .ok_or(format!("pacing_load.json: no row {name}"))
    };
    let number = |row: &Value, key: &str| {
        row[key]
            .as_f64()
            .ok_or(format!("pacing_load.json: no {key}"))
    };
    let mut out = String::from(
        "| row | what it is | answers | 200 | 429 (share) | 200s per second | allowed per second | ÷ allowed | retried |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, what) in PACING_ROWS {
        let row = row(name)?;
        let bold = if name.ends_with("_paced") { "**" } else { "" };
        let _ = writeln!(
            out,
            "| `{name}` | {what} | {} | {} | {} ({:.1}%) | {bold}{:.2}{bold} | {:.2} | {} | {} |",
            thousands(row["answered"].as_u64().unwrap_or(0)),
            thousands(row["ok"].as_u64().unwrap_or(0)),
            thousands(row["throttled"].as_u64().unwrap_or(0)),
            number(row, "throttled_share")? * 100.0,
            number(row, "ok_per_second")?,
            number(row, "allowed_per_second")?,
            ratio(number(row, "of_allowed")?),
            row["retried"],
        );
    }
    let _ = writeln!(
        out,
        "\n{} callers with one token; the concurrency-bound rows last {} s, the rate-bound ones 60 s.\n",
        figures["callers"], figures["seconds"]
    );

    let rotations = &figures["rotations"];
    let checkpoints = rotations["checkpoints"]
        .as_array()
        .ok_or("pacing_load.json: no rotation checkpoints")?;
    out.push_str(
        "| token rotations | resident set size | sessions the pacer holds |\n|---:|---:|---:|\n",
    );
    for point in checkpoints {
        let _ = writeln!(
            out,
            "| {} | {:.1} MiB | {} |",
            thousands(point["rotations"].as_u64().unwrap_or(0)),
            number(point, "rss_kib")? / 1024.0,
            thousands(point["sessions"].as_u64().unwrap_or(0)),
        );
    }
    let _ = writeln!(
        out,
        "\n{} rotations in {:.1} s, one request each; at most {} sessions held at once.\n",
        thousands(rotations["rotations"].as_u64().unwrap_or(0)),
        number(rotations, "seconds")?,
        thousands(rotations["most_sessions"].as_u64().unwrap_or(0)),
    );

    out.push_str("| goal | figure | met |\n|---|---:|:---:|\n");
    let mut goal = |text: &str, figure: String, met: bool| {
        let _ = writeln!(
            out,
            "| {text} | {figure} | {} |",
            if met { "yes" } else { "**no**" }
        );
    };
    for (scenario, label) in [
        ("concurrency_bound", "concurrency-bound"),
        ("rate_bound", "rate-bound"),
    ] {
        let paced = row(&format!("{scenario}_paced"))?;
        let throttled = paced["throttled"].as_u64().unwrap_or(u64::MAX);
        goal(
            &format!("{label}, paced: zero 429s"),
            throttled.to_string(),
            throttled == 0,
        );
        let share = number(paced, "of_allowed")?;
        goal(
            &format!("{label}, paced: ≥ 0.9x the throughput the session limits allow"),
            ratio(share),
            share >= 0.9,
        );
    }
    let rss = |index: usize| {
        checkpoints
            .get(index)
            .and_then(|point| point["rss_kib"].as_f64())
            .ok_or("pacing_load.json: too few rotation checkpoints")
    };
    let growth = rss(checkpoints.len().saturating_sub(1))? - rss(0)?;
    goal(
        "memory flat over 10,000 token rotations: the resident set grows ≤ 1 MiB from the 1,000th to the last",
        format!("{growth:+.0} KiB"),
        growth <= 1024.0,
    );
    Ok(out)
}

fn memory_table(runs: &[Value]) -> Result<String, String> {
    let off = runs
        .iter()
        .find(|r| r["capacity"] == 0)
        .and_then(|r| r["peak_rss_kib"].as_f64())
        .ok_or("memory figures: no run with the cache off")?;
    let mut out = String::from(
        "| verified-token cache capacity | tokens validated | time | peak RSS (VmHWM) | above the cache off |\n|---|---:|---:|---:|---:|\n",
    );
    for run in runs {
        let peak = run["peak_rss_kib"]
            .as_f64()
            .ok_or("memory figures: no peak")?;
        let capacity = match run["capacity"].as_u64() {
            Some(0) => "0 (off)".to_owned(),
            Some(c) => thousands(c),
            None => "?".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {capacity} | {} | {:.1} s | {:.1} MiB | {:+.1} MiB |",
            thousands(run["validated"].as_u64().unwrap_or(0)),
            run["seconds"].as_f64().unwrap_or(0.0),
            peak / 1024.0,
            (peak - off) / 1024.0
        );
    }
    Ok(out)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The issue's goals, each with its figure from this run.
fn goals(
    medians: &Figures,
    storm: &Value,
    memory: &[Value],
    load: &Value,
) -> Result<String, String> {
    let m = |id: &str| median_of(medians, "", id);
    let mut out = String::from("| goal | figure | met |\n|---|---:|:---:|\n");
    let mut goal = |text: String, figure: String, met: bool| {
        let _ = writeln!(
            out,
            "| {text} | {figure} | {} |",
            if met { "yes" } else { "**no**" }
        );
    };
    for threads in [1, 2] {
        let group = format!("token_cache_hit/{threads}_threads");
        let ours = m(&format!("{group}/cached_token"))?;
        let limit = m(&format!("{group}/arcswap_load_full"))?;
        let rwlock = m(&format!("{group}/tokio_rwlock"))?;
        let awaited = m(&format!("{group}/token_await"))?;
        let word = threads_word(threads);
        goal(
            format!("cache hit, {threads} {word}: ours ≤ 1.5x the bare `load_full`"),
            ratio(ours / limit),
            ours / limit <= 1.5,
        );
        goal(
            format!(
                "cache hit, {threads} {word}: ours ≥ 5x faster than the `tokio::sync::RwLock` cache"
            ),
            ahead(rwlock, ours),
            rwlock / ours >= 5.0,
        );
        goal(
            format!(
                "… through `token().await`, {threads} {word}: ≥ 5x faster than the `tokio::sync::RwLock` cache"
            ),
            ahead(rwlock, awaited),
            rwlock / awaited >= 5.0,
        );
        let mut others = Vec::new();
        for other in ["arcswap_load_full_now", "tokio_rwlock", "std_mutex"] {
            others.push((other, m(&format!("{group}/{other}"))?));
        }
        let peers = format!("token_cache_peers/{threads}_threads");
        let ours_there = m(&format!("{peers}/cached_token"))?;
        for other in [
            "aliri_token_watcher_borrow",
            "aliri_token_watcher_owned",
            "huskarl_cache_token",
        ] {
            // Scaled to this group's run of our row, so both sides are of one run.
            others.push((other, m(&format!("{peers}/{other}"))? / ours_there * ours));
        }
        let (nearest_name, nearest) = others
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .copied()
            .ok_or("no rows")?;
        goal(
            format!(
                "cache hit, {threads} {word}: ours ahead of every other row (nearest: `{nearest_name}`)"
            ),
            ahead(nearest, ours),
            nearest > ours,
        );
    }
    let cold = m("jwt_validation/jwt_validator_cold")?;
    let limit = m("jwt_validation/aws_lc_verify_sig")?;
    goal(
        "cold validation ≤ 1.2x the bare signature check".to_owned(),
        ratio(cold / limit),
        cold / limit <= 1.2,
    );
    let cold_here = m("validation/validate_cold")?;
    let bare = m("validation/bare_rsa_verify")?;
    let seen = m("validation/validate_seen")?;
    goal(
        "cold validation (`benches/validation.rs`) ≤ 1.2x the bare RSA verify".to_owned(),
        ratio(cold_here / bare),
        cold_here / bare <= 1.2,
    );
    goal(
        "a token seen before ≥ 20x faster than a cold validation".to_owned(),
        ahead(cold_here, seen),
        cold_here / seen >= 20.0,
    );
    for (row, single) in [
        ("validate_cold_100_issuers", cold_here),
        ("validate_seen_100_issuers", seen),
    ] {
        let many = m(&format!("validation/{row}"))?;
        goal(
            format!("`{row}` ≤ 1.05x the same through a validator of one issuer"),
            ratio(many / single),
            many / single <= 1.05,
        );
    }
    let jsonwebtoken = m("jwt_validation/jsonwebtoken_decode")?;
    goal(
        "cold validation ahead of `jsonwebtoken::decode`".to_owned(),
        ahead(jsonwebtoken, cold),
        jsonwebtoken > cold,
    );
    let service = m("jwt_validation_tower/erpnet_service_cold")?;
    let authorizer = m("jwt_validation_tower/jwt_authorizer_layer")?;
    goal(
        "through tower, cold, ahead of `jwt-authorizer`".to_owned(),
        ahead(authorizer, service),
        authorizer > service,
    );
    let requests = storm["rows"]["cached_token_source"]["requests"]
        .as_array()
        .ok_or("refresh_storm.json: no row for our cache")?;
    let counts: Vec<String> = requests.iter().map(Value::to_string).collect();
    goal(
        "refresh storm: one token request for 10,000 tasks".to_owned(),
        counts.join(", "),
        requests.iter().all(|r| r.as_u64() == Some(1)),
    );
    let peak = |capacity: u64| {
        memory
            .iter()
            .find(|r| r["capacity"].as_u64() == Some(capacity))
            .and_then(|r| r["peak_rss_kib"].as_f64())
            .ok_or(format!("memory figures: no run at capacity {capacity}"))
    };
    let (off, bounded, all) = (peak(0)?, peak(10_000)?, peak(100_000)?);
    goal(
        "memory: the 10,000-entry cache costs at most a fifth of one that holds all 100,000 tokens"
            .to_owned(),
        format!(
            "{:+.1} MiB vs {:+.1} MiB",
            (bounded - off) / 1024.0,
            (all - off) / 1024.0
        ),
        (bounded - off) * 5.0 < (all - off),
    );
    let load_row = |name: &str, key: &str| load["rows"][name][key].as_f64();
    let (Some(limit_rps), Some(ours_rps)) = (
        load_row(LOAD_LIMIT, "requests_per_second"),
        load_row(LOAD_OURS, "requests_per_second"),
    ) else {
        return Err("layer_load.json: no requests_per_second".into());
    };
    goal(
        "layer under load over loopback: ≥ 0.9x the requests/s of the route without it".to_owned(),
        ratio(ours_rps / limit_rps),
        ours_rps / limit_rps >= 0.9,
    );
    let errors = [LOAD_LIMIT, LOAD_OURS]
        .map(|name| load["rows"][name]["errors"].as_u64().unwrap_or(u64::MAX));
    goal(
        "layer under load over loopback: zero errors".to_owned(),
        format!("{} and {}", errors[0], errors[1]),
        errors == [0, 0],
    );
    Ok(out)
}

fn threads_word(threads: usize) -> &'static str {
    if threads == 1 { "thread" } else { "threads" }
}

/// How far ours is ahead of a rival, as "1.31x faster" or "2.17x slower".
fn ahead(rival: f64, ours: f64) -> String {
    if rival > ours {
        format!("{} faster", ratio(rival / ours))
    } else {
        format!("{} slower", ratio(ours / rival))
    }
}

fn replace_section(text: &str, marker: &str, body: &str) -> Result<String, String> {
    let open = format!("<!-- bench:{marker} -->");
    let close = format!("<!-- /bench:{marker} -->");
    let start = text
        .find(&open)
        .ok_or(format!("BENCHMARKS.md has no `{open}` marker"))?
        + open.len();
    let end = text[start..]
        .find(&close)
        .ok_or(format!("BENCHMARKS.md has no `{close}` marker"))?
        + start;
    Ok(format!("{}\n{}{}", &text[..start], body, &text[end..]))
}
