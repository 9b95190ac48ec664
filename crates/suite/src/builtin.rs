//! The built-in suite: the scenario files of `fixtures/scenarios` and the scripts of
//! `fixtures/scripts`, embedded at build time and written to a temporary folder to run, so
//! that `exec` steps find their scripts where the files say.

use crate::scenario::{self, Scenario, ScenarioError};

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// The built-in suite, unpacked in a temporary folder that lives as long as the returned
/// handle.
pub struct BuiltinSuite {
    /// The scenarios, in file order.
    pub scenarios: Vec<Scenario>,
    _dir: tempfile::TempDir,
}

/// Unpacks and loads the built-in suite. Errors name the files as `fixtures/…`.
pub fn builtin_suite() -> Result<BuiltinSuite, Vec<ScenarioError>> {
    let io = |e: std::io::Error| {
        vec![ScenarioError {
            file: "fixtures".into(),
            at: None,
            message: format!("unpacking the built-in suite: {e}"),
        }]
    };
    let dir = tempfile::Builder::new()
        .prefix("lyncsim-suite-")
        .tempdir()
        .map_err(io)?;
    for (rel, bytes) in FILES {
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, bytes).map_err(io)?;
    }
    let files = FILES
        .iter()
        .filter(|(rel, _)| rel.starts_with("scenarios/") && rel.ends_with(".toml"))
        .map(|(rel, _)| (format!("fixtures/{rel}"), dir.path().join(rel)));
    let scenarios = scenario::parse_files(files)?;
    Ok(BuiltinSuite {
        scenarios,
        _dir: dir,
    })
}
