//! Scenario files: TOML that says which machine, what goes wrong, what the user must see,
//! which remedies to apply and what must happen then. See `fixtures/scenarios/README.md`.
//!
//! Loading checks everything a run would trip over later (ids, where a cause exists, which
//! remedies a product offers, the users) and reports it with the file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use lyncsim_domain::{Build, ErrorId, Os, Product, Release, Remedy};
use lyncsim_wire::admin::Fault;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use lyncsim_lab::{CauseSpec, Lab};

/// What a sign-in must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Sign-in succeeds.
    SignedIn,
    /// Sign-in fails, whatever it shows.
    Fails,
    /// Sign-in fails showing this text.
    Shows(ErrorId),
}

impl Expect {
    /// Whether a sign-in that showed `seen` (`None`: signed in) meets this.
    pub fn met_by(self, seen: Option<ErrorId>) -> bool {
        match self {
            Expect::SignedIn => seen.is_none(),
            Expect::Fails => seen.is_some(),
            Expect::Shows(id) => seen == Some(id),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::SignedIn => f.write_str("signed-in"),
            Expect::Fails => f.write_str("fails"),
            Expect::Shows(id) => write!(f, "{id}"),
        }
    }
}

impl FromStr for Expect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "signed-in" => Ok(Expect::SignedIn),
            "fails" => Ok(Expect::Fails),
            _ => ErrorId::ALL
                .iter()
                .copied()
                .find(|e| e.id() == s)
                .map(Expect::Shows)
                .ok_or_else(|| {
                    format!(
                        "unknown outcome {s:?}; expected signed-in, fails, {}",
                        ErrorId::ALL
                            .iter()
                            .map(|e| e.id())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
        }
    }
}

impl Serialize for Expect {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// One remedy step: a KB remedy, or a command of your own run against the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A remedy of SPEC section 5.
    Remedy(Remedy),
    /// `sh -c COMMAND`, in the scenario file's folder, with the profile in the environment.
    Exec(String),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Remedy(r) => write!(f, "{r}"),
            Step::Exec(command) => write!(f, "exec `{command}`"),
        }
    }
}

impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a remedy id such as \"fixit\", or { exec = \"command\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Step, E> {
                v.parse().map(Step::Remedy).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
                let mut exec = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "exec" {
                        return Err(de::Error::unknown_field(&key, &["exec"]));
                    }
                    exec = Some(map.next_value::<String>()?);
                }
                match exec {
                    Some(c) if c.trim().is_empty() => {
                        Err(de::Error::custom("exec: the command is empty"))
                    }
                    Some(c) => Ok(Step::Exec(c)),
                    None => Err(de::Error::missing_field("exec")),
                }
            }
        }
        d.deserialize_any(StepVisitor)
    }
}

/// Another sequence of remedies tried on a copy of the broken machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Control {
    /// The remedies, in order.
    pub remedies: Vec<Step>,
    /// What the sign-in after them must show: `fails` for a negative control.
    pub outcome: Expect,
}

/// One scenario, checked and ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Its name: the file's stem, plus the product and OS when the file names several.
    pub name: String,
    /// The file it came from, as shown to the user.
    pub file: String,
    /// Where `exec` commands run.
    #[serde(skip)]
    pub dir: PathBuf,
    /// What it is about.
    pub description: Option<String>,
    /// lync2010 or lync2013.
    pub product: Product,
    /// The machine's OS.
    pub os: Os,
    /// The client build; the product's installed build when `None`.
    pub build: Option<Build>,
    /// Lync 2010: the Sign-In Assistant version; the installed one when `None`.
    pub sign_in_assistant: Option<Build>,
    /// Who signs in.
    pub user: String,
    /// Sign in once, saving the password, before anything breaks.
    pub first_sign_in: bool,
    /// The causes, made in order.
    pub causes: Vec<CauseSpec>,
    /// Server faults put in force after the causes.
    pub server_faults: Vec<Fault>,
    /// What the sign-in after the faults must show.
    pub expect: Expect,
    /// The remedies, in order.
    pub remedies: Vec<Step>,
    /// What the sign-in after the remedies must show.
    pub outcome: Expect,
    /// A known-good account that must sign in on the same machine after the remedies.
    pub second_account: Option<String>,
    /// Other remedies tried from the same broken machine.
    pub controls: Vec<Control>,
}

/// A scenario file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line and column, when the problem has a place.
    pub at: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    expect: Spanned<Expect>,
    #[serde(default)]
    remedies: Option<Spanned<Vec<Step>>>,
    outcome: Spanned<Expect>,
    second_account: Option<Spanned<String>>,
    client: RawClient,
    #[serde(default)]
    setup: RawSetup,
    #[serde(default, rename = "fault")]
    faults: Vec<Spanned<CauseSpec>>,
    #[serde(default, rename = "server_fault")]
    server_faults: Vec<Fault>,
    #[serde(default, rename = "control")]
    controls: Vec<Spanned<RawControl>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    product: Spanned<OneOrMany>,
    os: Spanned<OneOrMany>,
    build: Option<Spanned<String>>,
    sign_in_assistant: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSetup {
    user: Option<Spanned<String>>,
    first_sign_in: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    remedies: Vec<Step>,
    outcome: Option<Expect>,
}

/// Where a byte offset is, 1-based.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn error(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: self.file.to_owned(),
            at: span.map(|s| line_col(self.text, s.start)),
            message: message.into(),
        }
    }
}

fn release_or_build(text: &str) -> Result<Option<Release>, lyncsim_domain::ParseBuildError> {
    match text {
        "outdated" => Ok(Some(Release::Outdated)),
        "installed" => Ok(Some(Release::Installed)),
        "latest" => Ok(Some(Release::Latest)),
        _ => Build::from_str(text).map(|_| None),
    }
}

/// Parses and checks one scenario file. `file` is how errors name it; `dir` is where its
/// `exec` commands run. A file may stand for several scenarios (one per product and OS).
/// Returns the first mistake; [`parse_all`] returns every one it can find.
pub fn parse(file: &str, dir: &Path, text: &str) -> Result<Vec<Scenario>, ScenarioError> {
    parse_all(file, dir, text).map_err(|mut errors| errors.swap_remove(0))
}

/// [`parse`], reporting every mistake of the file: a file that is not TOML, or not of the
/// scenario format (an unknown key or id), stops at the first; after that each check runs,
/// except those that need what an earlier mistake left unknown (the products and OSes).
pub fn parse_all(file: &str, dir: &Path, text: &str) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let src = Source { file, text };
    let raw: RawScenario = toml::from_str(text)
        .map_err(|e| vec![src.error(e.span(), e.message().trim_end().to_owned())])?;
    let mut check = Check {
        src,
        errors: Vec::new(),
    };
    let clients = check.clients(&raw);
    let pairs = clients.as_ref().map_or(&[][..], |c| &c.pairs[..]);
    let builds = check.builds(&raw, pairs);
    let (user, second_account) = check.accounts(&raw);
    check.faults(&raw, pairs);
    let (remedies, controls) = check.remedies(&raw, pairs);
    check.errors.sort_by_key(|e| e.at);
    let Some(clients) = clients else {
        return Err(check.errors);
    };
    if !check.errors.is_empty() {
        return Err(check.errors);
    }
    let stem = Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_owned(), |s| s.to_string_lossy().into_owned());
    let several = clients.pairs.len() > 1;
    Ok(clients
        .pairs
        .iter()
        .zip(builds)
        .map(|(&(product, os), (build, sia))| Scenario {
            name: match (several, clients.vary_product, clients.vary_os) {
                (false, ..) => stem.clone(),
                (true, true, true) => format!("{stem}/{product}/{os}"),
                (true, true, false) => format!("{stem}/{product}"),
                (true, false, _) => format!("{stem}/{os}"),
            },
            file: file.to_owned(),
            dir: dir.to_path_buf(),
            description: raw.description.clone(),
            product,
            os,
            build,
            sign_in_assistant: sia,
            user: user.clone(),
            first_sign_in: raw.setup.first_sign_in.unwrap_or(true),
            causes: raw.faults.iter().map(|f| f.get_ref().clone()).collect(),
            server_faults: raw.server_faults.clone(),
            expect: *raw.expect.get_ref(),
            remedies: remedies.clone(),
            outcome: *raw.outcome.get_ref(),
            second_account: second_account.clone(),
            controls: controls.clone(),
        })
        .collect())
}

/// The (product, OS) pairs a file stands for, and whether it names several products or
/// several OSes (which its scenarios' names then carry).
struct Clients {
    pairs: Vec<(Product, Os)>,
    vary_product: bool,
    vary_os: bool,
}

/// A file's checks, section by section, with every mistake found so far.
struct Check<'a> {
    src: Source<'a>,
    errors: Vec<ScenarioError>,
}

impl Check<'_> {
    /// Keeps a mistake; the value when there was none.
    fn keep<T>(&mut self, r: Result<T, ScenarioError>) -> Option<T> {
        r.map_err(|e| self.errors.push(e)).ok()
    }

    /// `[client]`'s products and OSes, and the pairs of them that exist.
    fn clients(&mut self, raw: &RawScenario) -> Option<Clients> {
        let ids = |field: &Spanned<OneOrMany>| -> Vec<String> {
            field
                .get_ref()
                .items()
                .into_iter()
                .map(str::to_owned)
                .collect()
        };
        let products = ids(&raw.client.product)
            .iter()
            .map(|p| p.parse::<Product>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                self.src
                    .error(Some(raw.client.product.span()), e.to_string())
            });
        let oses = ids(&raw.client.os)
            .iter()
            .map(|o| o.parse::<Os>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.src.error(Some(raw.client.os.span()), e.to_string()));
        let (products, oses) = (self.keep(products), self.keep(oses));
        let (products, oses) = (products?, oses?);
        let pairs = client_pairs(&self.src, raw, &products, &oses);
        Some(Clients {
            pairs: self.keep(pairs)?,
            vary_product: products.len() > 1,
            vary_os: oses.len() > 1,
        })
    }

    /// The client build and Sign-In Assistant of each pair (a release's or a number).
    fn builds(
        &mut self,
        raw: &RawScenario,
        pairs: &[(Product, Os)],
    ) -> Vec<(Option<Build>, Option<Build>)> {
        let builds = self.build_of(&raw.client.build, pairs, &|p, r| p.build(r));
        let sias = self.build_of(&raw.client.sign_in_assistant, pairs, &|_, r| {
            lyncsim_domain::sign_in_assistant(r)
        });
        if let Some(sia) = &raw.client.sign_in_assistant
            && let Some((p, _)) = pairs.iter().find(|(p, _)| !p.uses_sign_in_assistant())
        {
            self.errors.push(self.src.error(
                Some(sia.span()),
                format!("{} does not use the Sign-In Assistant", p.display_name()),
            ));
        }
        builds.into_iter().zip(sias).collect()
    }

    /// One build field for each pair; a mistake leaves every pair without one.
    fn build_of(
        &mut self,
        field: &Option<Spanned<String>>,
        pairs: &[(Product, Os)],
        pick: &dyn Fn(Product, Release) -> Build,
    ) -> Vec<Option<Build>> {
        let src = &self.src;
        let builds: Result<Vec<Option<Build>>, ScenarioError> = pairs
            .iter()
            .map(|(product, _)| match field {
                None => Ok(None),
                Some(text) => match release_or_build(text.get_ref()) {
                    Ok(Some(release)) => Ok(Some(pick(*product, release))),
                    Ok(None) => Ok(Some(text.get_ref().parse().map_err(
                        |e: lyncsim_domain::ParseBuildError| {
                            src.error(Some(text.span()), e.to_string())
                        },
                    )?)),
                    Err(e) => Err(src.error(
                        Some(text.span()),
                        format!("{e}; or one of outdated, installed, latest"),
                    )),
                },
            })
            .collect();
        self.keep(builds).unwrap_or_else(|| vec![None; pairs.len()])
    }

    /// The user who signs in (alice by default) and the known-good second account, both of
    /// the built-in tenant, and not the same.
    fn accounts(&mut self, raw: &RawScenario) -> (String, Option<String>) {
        let src = &self.src;
        let user_check = |user: &Spanned<String>| -> Result<String, ScenarioError> {
            Lab::tenant_password(user.get_ref())
                .map(|_| user.get_ref().to_ascii_lowercase())
                .ok_or_else(|| {
                    src.error(
                        Some(user.span()),
                        format!(
                            "{:?} is not a user of the built-in tenant (alice, bob or carol @contoso.com)",
                            user.get_ref()
                        ),
                    )
                })
        };
        let user = raw.setup.user.as_ref().map(user_check);
        let second = raw.second_account.as_ref().map(user_check);
        let user = match user {
            Some(u) => self.keep(u).unwrap_or_default(),
            None => "alice@contoso.com".to_owned(),
        };
        let second = second.and_then(|s| self.keep(s));
        if second.as_deref() == Some(user.as_str()) {
            self.errors.push(self.src.error(
                raw.second_account.as_ref().map(|s| s.span()),
                "second_account must be another account than the one that signs in",
            ));
        }
        (user, second)
    }

    /// Each `[[fault]]`: its settings its cause's, and the cause one that exists on every
    /// pair.
    fn faults(&mut self, raw: &RawScenario, pairs: &[(Product, Os)]) {
        for fault in &raw.faults {
            let spec = fault.get_ref();
            let foreign = spec.foreign_settings();
            if !foreign.is_empty() {
                self.errors.push(self.src.error(
                    Some(fault.span()),
                    format!(
                        "{} does not belong to cause {}",
                        foreign.join(", "),
                        spec.cause
                    ),
                ));
            }
            if let Some((product, os)) = pairs
                .iter()
                .find(|(product, os)| !spec.cause.exists_on(*product, *os))
            {
                self.errors.push(self.src.error(
                    Some(fault.span()),
                    format!(
                        "cause {} does not exist on {} on {}",
                        spec.cause,
                        product.display_name(),
                        os.display_name()
                    ),
                ));
            }
        }
    }

    /// The remedies and the controls' remedies, each offered on every pair.
    fn remedies(
        &mut self,
        raw: &RawScenario,
        pairs: &[(Product, Os)],
    ) -> (Vec<Step>, Vec<Control>) {
        let remedies = match &raw.remedies {
            Some(r) => {
                let offered = offered(&self.src, r.get_ref(), r.span(), pairs);
                self.keep(offered);
                r.get_ref().clone()
            }
            None => Vec::new(),
        };
        let mut controls = Vec::new();
        for control in &raw.controls {
            let offered = offered(
                &self.src,
                &control.get_ref().remedies,
                control.span(),
                pairs,
            );
            self.keep(offered);
            controls.push(Control {
                remedies: control.get_ref().remedies.clone(),
                outcome: control.get_ref().outcome.unwrap_or(Expect::Fails),
            });
        }
        (remedies, controls)
    }
}

/// Whether every remedy of `steps` is offered on every pair.
fn offered(
    src: &Source<'_>,
    steps: &[Step],
    span: std::ops::Range<usize>,
    pairs: &[(Product, Os)],
) -> Result<(), ScenarioError> {
    for step in steps {
        if let Step::Remedy(remedy) = step {
            for (product, os) in pairs {
                remedy
                    .offered_on(*product, *os)
                    .map_err(|why| src.error(Some(span.clone()), format!("{remedy}: {why}")))?;
            }
        }
    }
    Ok(())
}

/// The (product, OS) pairs a file's client stands for, or why there are none.
fn client_pairs(
    src: &Source<'_>,
    raw: &RawScenario,
    products: &[Product],
    oses: &[Os],
) -> Result<Vec<(Product, Os)>, ScenarioError> {
    if products.is_empty() || oses.is_empty() {
        return Err(src.error(
            Some(raw.client.product.span()),
            "client: name at least one product and one OS",
        ));
    }
    if let [product] = products
        && let Some(os) = oses.iter().find(|o| !product.runs_on(**o))
    {
        return Err(src.error(
            Some(raw.client.os.span()),
            format!(
                "{} does not run on {}",
                product.display_name(),
                os.display_name()
            ),
        ));
    }
    // With several products, the pairs that cannot exist (Lync 2013 on XP) are left out.
    let pairs: Vec<(Product, Os)> = products
        .iter()
        .flat_map(|p| oses.iter().map(move |o| (*p, *o)))
        .filter(|(p, o)| p.runs_on(*o))
        .collect();
    if pairs.is_empty() {
        return Err(src.error(
            Some(raw.client.os.span()),
            format!(
                "{} does not run on {}",
                products[0].display_name(),
                oses[0].display_name()
            ),
        ));
    }
    Ok(pairs)
}

/// Loads scenario files and folders (every `*.toml` under a folder, recursively, in name
/// order). Reports every file that cannot be used, not just the first.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.is_dir() {
            if let Err(e) = toml_files(path, &mut files) {
                errors.push(io_error(path, &e));
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            errors.push(ScenarioError {
                file: path.display().to_string(),
                at: None,
                message: "no such file or folder".into(),
            });
        }
    }
    let named = files.into_iter().map(|f| (f.display().to_string(), f));
    match parse_files(named) {
        Ok(scenarios) if errors.is_empty() => Ok(scenarios),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

/// Reads and parses files, each given as (the name errors and reports show, its path);
/// `exec` steps run in each file's folder. Reports every bad file, and refuses two scenarios
/// with one name.
pub(crate) fn parse_files(
    files: impl IntoIterator<Item = (String, PathBuf)>,
) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for (shown, file) in files {
        let dir = file.parent().unwrap_or(Path::new("."));
        match std::fs::read_to_string(&file) {
            Ok(text) => match parse_all(&shown, dir, &text) {
                Ok(s) => scenarios.extend(s),
                Err(e) => errors.extend(e),
            },
            Err(e) => errors.push(ScenarioError {
                file: shown,
                at: None,
                message: e.to_string(),
            }),
        }
    }
    errors.extend(duplicates(&scenarios));
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(errors)
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> ScenarioError {
    ScenarioError {
        file: path.display().to_string(),
        at: None,
        message: e.to_string(),
    }
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            toml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Two scenarios with one name would be one line in a report: refuse them.
fn duplicates(scenarios: &[Scenario]) -> Vec<ScenarioError> {
    let mut seen: std::collections::BTreeMap<&str, &str> = Default::default();
    let mut errors = Vec::new();
    for s in scenarios {
        if let Some(first) = seen.insert(&s.name, &s.file) {
            errors.push(ScenarioError {
                file: s.file.clone(),
                at: None,
                message: format!(
                    "another scenario is named {:?} ({first}); rename one of the files",
                    s.name
                ),
            });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# two causes
expect = "E_CERT"
remedies = ["desktop-setup", "sync-time", { exec = "sh fix.sh" }]
outcome = "signed-in"

[client]
product = "lync2010"
os = ["xp", "win7"]
build = "installed"

[[fault]]
cause = "outdated-sia"

[[fault]]
cause = "clock-skew"
clock_offset_secs = -400

[[control]]
remedies = ["sync-time"]
"#;

    fn parse_err(text: &str) -> String {
        parse("bad.toml", Path::new("."), text)
            .expect_err("the file is refused")
            .to_string()
    }

    /// `GOOD` with one line replaced.
    fn with(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replacen(from, to, 1)
    }

    #[test]
    fn every_mistake_of_a_file_is_reported_in_the_order_of_the_file() {
        let text = with("product = \"lync2010\"", "product = \"lync2007\"")
            .replace("\"sync-time\"]", "\"sync-time\", \"delete-signin-info\"]")
            .replace(
                "clock_offset_secs = -400",
                "clock_offset_secs = -400\npassword = \"x\"",
            );
        let errors = parse_all("bad.toml", Path::new("."), &text).unwrap_err();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{messages:#?}");
        assert!(messages[0].contains("lync2007"), "{messages:#?}");
        assert!(
            messages[1].contains("password does not belong to cause clock-skew"),
            "{messages:#?}"
        );
        let text = with("product = \"lync2010\"", "product = \"lync2013\"")
            .replace("os = [\"xp\", \"win7\"]", "os = \"win7\"")
            .replace(
                "# two causes\n",
                "# two causes\nsecond_account = \"mallory@contoso.com\"\n",
            );
        let errors = parse_all("bad.toml", Path::new("."), &text).unwrap_err();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(errors.len() >= 3, "{messages:#?}");
        assert!(
            messages.iter().any(|m| m.contains("mallory")),
            "{messages:#?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("Sign-In Assistant") || m.contains("outdated-sia")),
            "{messages:#?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("desktop-setup")),
            "{messages:#?}"
        );
    }

    #[test]
    fn a_file_naming_two_oses_is_two_scenarios_with_everything_in_it() {
        let s = parse("dir/two.toml", Path::new("dir"), GOOD).unwrap();
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["two/xp", "two/win7"]);
        let xp = &s[0];
        assert_eq!((xp.product, xp.os), (Product::Lync2010, Os::Xp));
        assert_eq!(xp.build, Some(Product::Lync2010.build(Release::Installed)));
        assert_eq!(xp.user, "alice@contoso.com");
        assert!(xp.first_sign_in);
        assert_eq!(xp.causes.len(), 2);
        assert_eq!(xp.causes[1].clock_offset_secs, Some(-400));
        assert_eq!(xp.expect, Expect::Shows(ErrorId::ECert));
        assert_eq!(
            xp.remedies,
            [
                Step::Remedy(Remedy::DesktopSetup),
                Step::Remedy(Remedy::SyncTime),
                Step::Exec("sh fix.sh".into())
            ]
        );
        assert_eq!(xp.outcome, Expect::SignedIn);
        assert_eq!(
            xp.controls[0].outcome,
            Expect::Fails,
            "controls are negative by default"
        );
    }

    #[test]
    fn lync2013_is_left_out_of_xp_when_a_file_names_both() {
        let text = with(
            "product = \"lync2010\"",
            "product = [\"lync2010\", \"lync2013\"]",
        )
        .replace("cause = \"outdated-sia\"", "cause = \"dns-stale\"")
        .replace("\"desktop-setup\", ", "");
        let names: Vec<_> = parse("both.toml", Path::new("."), &text)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            names,
            [
                "both/lync2010/xp",
                "both/lync2010/win7",
                "both/lync2013/win7"
            ]
        );
    }

    #[test]
    fn unknown_ids_are_reported_with_file_line_and_column() {
        let cases = [
            (
                with("cause = \"outdated-sia\"", "cause = \"outdated-sai\""),
                "bad.toml:12:9:",
                "outdated-sai",
            ),
            (
                with("\"desktop-setup\", \"sync", "\"desktop-setup\", \"synk"),
                "bad.toml:3:",
                "unknown remedy \"synk-time\"",
            ),
            (
                with("product = \"lync2010\"", "product = \"lync2016\""),
                "bad.toml:7:11:",
                "unknown product \"lync2016\"",
            ),
            (
                with("os = [\"xp\", \"win7\"]", "os = [\"xp\", \"windows10\"]"),
                "bad.toml:8:6:",
                "unknown os \"windows10\"",
            ),
            (
                with("outcome = \"signed-in\"", "outcome = \"E_CRT\""),
                "bad.toml:4:11:",
                "unknown outcome \"E_CRT\"",
            ),
            (
                with("build = \"installed\"", "build = \"newest\""),
                "bad.toml:9:9:",
                "outdated, installed, latest",
            ),
        ];
        for (text, at, says) in cases {
            let e = parse_err(&text);
            assert!(e.starts_with(at) && e.contains(says), "{e}");
        }
    }

    #[test]
    fn malformed_files_are_reported_with_their_line() {
        let e = parse_err(&with("[client]", "[client"));
        assert!(e.starts_with("bad.toml:6:"), "{e}");
        let e = parse_err(&with("expect = \"E_CERT\"\n", ""));
        assert!(e.contains("missing field `expect`"), "{e}");
        let e = parse_err(&with("[[control]]", "[[controls]]"));
        assert!(
            e.starts_with("bad.toml:18:") && e.contains("controls"),
            "{e}"
        );
        let e = parse_err(&with("clock_offset_secs = -400", "clock_offset = -400"));
        assert!(
            e.starts_with("bad.toml:16:") && e.contains("clock_offset"),
            "{e}"
        );
        let e = parse_err(&with("{ exec = \"sh fix.sh\" }", "{ run = \"sh fix.sh\" }"));
        assert!(e.starts_with("bad.toml:3:") && e.contains("exec"), "{e}");
    }

    #[test]
    fn what_the_product_or_os_cannot_have_is_refused_where_it_is_written() {
        let e = parse_err(&with("product = \"lync2010\"", "product = \"lync2013\""));
        assert!(
            e.starts_with("bad.toml:8:") && e.contains("does not run on Windows XP"),
            "one product named: every OS named must run it: {e}"
        );
        let text = with("os = [\"xp\", \"win7\"]", "os = \"win7\"")
            .replace("cause = \"outdated-sia\"", "cause = \"rsa-key-locked\"");
        let e = parse_err(&text);
        assert!(
            e.starts_with("bad.toml:11:") && e.contains("rsa-key-locked does not exist"),
            "{e}"
        );
        let e = parse_err(&with("[\"sync-time\"]", "[\"delete-signin-info\"]"));
        assert!(
            e.starts_with("bad.toml:18:") && e.contains("Lync 2010 does not offer it"),
            "{e}"
        );
        let e = parse_err(&with(
            "cause = \"outdated-sia\"",
            "cause = \"outdated-sia\"\nmode = \"reset\"",
        ));
        assert!(
            e.contains("mode does not belong to cause outdated-sia"),
            "{e}"
        );
        let e = parse_err(&format!(
            "{GOOD}\n[setup]\nuser = \"mallory@contoso.com\"\n"
        ));
        assert!(
            e.starts_with("bad.toml:22:8:") && e.contains("not a user"),
            "{e}"
        );
    }

    #[test]
    fn loading_a_folder_reports_every_bad_file_and_refuses_duplicate_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("more")).unwrap();
        std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
        std::fs::write(dir.path().join("more/a.toml"), GOOD).unwrap();
        std::fs::write(dir.path().join("b.toml"), "expect = ").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a scenario").unwrap();
        let errors = load(&[dir.path().to_path_buf(), dir.path().join("missing.toml")])
            .expect_err("bad files");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 4, "{text:#?}");
        assert!(
            text.iter()
                .any(|e| e.contains("missing.toml: no such file"))
        );
        assert!(text.iter().any(|e| e.contains("b.toml:1:")));
        assert!(
            text.iter()
                .any(|e| e.contains("another scenario is named \"a/xp\""))
        );
        std::fs::remove_dir_all(dir.path().join("more")).unwrap();
        std::fs::remove_file(dir.path().join("b.toml")).unwrap();
        assert_eq!(load(&[dir.path().to_path_buf()]).unwrap().len(), 2);
    }

    #[test]
    fn the_built_in_suite_loads() {
        let suite = crate::builtin_suite().unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert!(suite.scenarios.len() > 60);
        assert!(
            suite
                .scenarios
                .iter()
                .all(|s| s.file.starts_with("fixtures/scenarios/"))
        );
    }
}
