//! The shape of the code, checked by `cargo xtask ci`: no import circle between the modules
//! (files) of a crate, and no function longer than [`MAX_FUNCTION_LINES`] outside tests.
//!
//! Read from the source text with a small lexer that knows Rust's comments, strings, raw
//! strings and character literals (so a brace in a string is not a block), not with a Rust
//! parser: the workspace's own code is the only input, and xtask keeps no dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a function may be, outside tests, in lines from its `fn` to its closing brace.
pub const MAX_FUNCTION_LINES: usize = 80;

/// One module of a crate: a source file, by its path in the crate (`endpoints`, `views::certmgr`).
#[derive(Debug, Clone)]
struct Module {
    path: String,
    /// The file's text with test code (`#[cfg(test)]` items) blanked out.
    code: String,
    file: PathBuf,
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Shape {
    /// Each circle of modules, as `crate: a -> b -> a`.
    pub circles: Vec<String>,
    /// Every function over the limit: `file:line name (N lines)`.
    pub long_functions: Vec<String>,
    /// The longest function: where it is, and its length.
    pub longest: Option<(String, usize)>,
    /// How many modules were read.
    pub modules: usize,
}

/// Checks every crate under `root/crates` and `root/xtask`.
pub fn check(root: &Path) -> std::io::Result<Shape> {
    let mut shape = Shape::default();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    crates.push(root.join("xtask"));
    crates.sort();
    for krate in crates {
        let name = krate
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let modules = modules_of(&krate.join("src"))?;
        shape.modules += modules.len();
        for circle in circles(&modules) {
            shape
                .circles
                .push(format!("{name}: {}", circle.join(" -> ")));
        }
        for m in &modules {
            for (line, fn_name, length) in functions(&m.code) {
                let at = format!(
                    "{}:{line} {fn_name}",
                    m.file.strip_prefix(root).unwrap_or(&m.file).display()
                );
                if shape.longest.as_ref().is_none_or(|(_, l)| length > *l) {
                    shape.longest = Some((at.clone(), length));
                }
                if length > MAX_FUNCTION_LINES {
                    shape.long_functions.push(format!("{at} ({length} lines)"));
                }
            }
        }
    }
    Ok(shape)
}

/// The source files of a crate's `src`, each with its module path.
fn modules_of(src: &Path) -> std::io::Result<Vec<Module>> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap_or(&path).with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main") {
                parts.clear();
            }
            // A binary's other roots (benches, src/bin) are their own crates; skip them.
            if parts.first().is_some_and(|p| p == "bin") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            out.push(Module {
                path: parts.join("::"),
                code: without_tests(&text),
                file: path,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The text with comments, and the contents of strings and characters, replaced by spaces
/// (line ends kept), so that what is left is code whose braces are blocks.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i = if c == b'/' && b.get(i + 1) == Some(&b'/') {
            line_comment(b, i, &mut out)
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            block_comment(b, i, &mut out)
        } else if c == b'r' && matches!(b.get(i + 1), Some(b'"' | b'#')) && !ident_before(b, i) {
            raw_string(b, i, &mut out)
        } else if c == b'"' {
            string(b, i, &mut out)
        } else if c == b'\'' {
            character(b, i, &mut out)
        } else {
            out.push(c);
            i + 1
        };
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A byte of a comment or literal as it is blanked: a space, or the line end it was.
fn blank(out: &mut Vec<u8>, c: u8) {
    out.push(if c == b'\n' { b'\n' } else { b' ' });
}

/// `// …` up to the line end; where the text goes on.
fn line_comment(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
    while i < b.len() && b[i] != b'\n' {
        out.push(b' ');
        i += 1;
    }
    i
}

/// `/* … */`, nested as Rust nests them.
fn block_comment(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
    let mut depth = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            out.extend_from_slice(b"  ");
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            out.extend_from_slice(b"  ");
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            blank(out, b[i]);
            i += 1;
        }
    }
    i
}

/// A raw string, `r"…"` or `r#"…"#`; an `r` that starts none is itself.
fn raw_string(b: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    let mut j = i + 1;
    let mut hashes = 0;
    while b.get(j) == Some(&b'#') {
        hashes += 1;
        j += 1;
    }
    if b.get(j) != Some(&b'"') {
        out.push(b[i]);
        return i + 1;
    }
    out.push(b'"');
    j += 1;
    while j < b.len() {
        let closes = b[j] == b'"'
            && b[j + 1..]
                .iter()
                .take(hashes)
                .filter(|h| **h == b'#')
                .count()
                == hashes;
        if closes {
            j += 1 + hashes;
            break;
        }
        blank(out, b[j]);
        j += 1;
    }
    out.push(b'"');
    j
}

/// A string, its escapes included.
fn string(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
    out.push(b'"');
    i += 1;
    while i < b.len() && b[i] != b'"' {
        if b[i] == b'\\' {
            blank(out, b[i]);
            i += 1;
        }
        if i < b.len() {
            blank(out, b[i]);
            i += 1;
        }
    }
    out.push(b'"');
    i + 1
}

/// A character literal (`'x'`, `'\n'`, `'\u{…}'`, `'{'`), or a lifetime (`'a`).
fn character(b: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    let close = if b.get(i + 1) == Some(&b'\\') {
        b[i + 2..]
            .iter()
            .position(|x| *x == b'\'')
            .map(|p| i + 2 + p)
    } else {
        // One character, of one to four bytes, then the quote.
        (2..=5)
            .map(|n| i + n)
            .find(|&j| b.get(j) == Some(&b'\''))
            .filter(|&j| std::str::from_utf8(&b[i + 1..j]).is_ok_and(|s| s.chars().count() == 1))
    };
    match close {
        Some(j) => {
            out.push(b'\'');
            out.extend(std::iter::repeat_n(b' ', j - i - 1));
            out.push(b'\'');
            j + 1
        }
        None => {
            out.push(b[i]);
            i + 1
        }
    }
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// The index of the brace that closes the one at `open`, in code from [`code_only`].
fn closing(code: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in code.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The code of a file with every item under `#[cfg(test)]` blanked out (lines kept).
fn without_tests(text: &str) -> String {
    let mut code = code_only(text).into_bytes();
    let marker = b"#[cfg(test)]";
    let mut from = 0;
    while let Some(at) = find(&code[from..], marker).map(|p| p + from) {
        // The item ends at its `;` or at the brace closing its first block.
        let rest = &code[at..];
        let semi = rest.iter().position(|c| *c == b';');
        let brace = rest.iter().position(|c| *c == b'{');
        let end = match (brace, semi) {
            (Some(b), Some(s)) if s < b => at + s,
            (Some(b), _) => closing(&code, at + b).unwrap_or(code.len() - 1),
            (None, Some(s)) => at + s,
            (None, None) => code.len() - 1,
        };
        for c in &mut code[at..=end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        from = end + 1;
    }
    String::from_utf8_lossy(&code).into_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Each function with a body in `code`: the line of its `fn`, its name, and its length in
/// lines (from that line to the one of its closing brace).
fn functions(code: &str) -> Vec<(usize, String, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&b[from..], b"fn ").map(|p| p + from) {
        from = at + 3;
        if ident_before(b, at) {
            continue;
        }
        let name: String = code[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        // The body: the first `{` before any `;` (a declaration without a body has none).
        let rest = &b[at..];
        let Some(open) = rest.iter().position(|c| *c == b'{' || *c == b';') else {
            continue;
        };
        if rest[open] == b';' {
            continue;
        }
        let Some(close) = closing(b, at + open) else {
            continue;
        };
        let line = code[..at].matches('\n').count() + 1;
        let length = code[at..=close].matches('\n').count() + 1;
        out.push((line, name, length));
    }
    out
}

/// The modules each module refers to by `crate::…` or `super::…`, outside tests.
fn references(modules: &[Module]) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<&str> = modules.iter().map(|m| m.path.as_str()).collect();
    let mut graph = BTreeMap::new();
    for m in modules {
        let mut to = BTreeSet::new();
        let b = m.code.as_bytes();
        for (prefix, base) in [("crate::", String::new()), ("super::", parent(&m.path))] {
            let mut from = 0;
            while let Some(at) = find(&b[from..], prefix.as_bytes()).map(|p| p + from) {
                from = at + prefix.len();
                if ident_before(b, at) {
                    continue;
                }
                let tail: String = m.code[from..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '{')
                    .collect();
                // The longest known module path the reference starts with (a group `{a, b}`
                // names more than one: each is found where it is written).
                let mut path = base.clone();
                let mut best = None;
                for part in tail.split("::") {
                    let part = part.trim_end_matches('{');
                    if part.is_empty() {
                        break;
                    }
                    path = if path.is_empty() {
                        part.to_owned()
                    } else {
                        format!("{path}::{part}")
                    };
                    if known.contains(path.as_str()) {
                        best = Some(path.clone());
                    }
                }
                if tail.contains('{') {
                    // `crate::{a, b::c}`: each name of the group.
                    let group_start = from + tail.find('{').unwrap_or(0) + 1;
                    let group_end = m.code[group_start..]
                        .find('}')
                        .map_or(m.code.len(), |e| e + group_start);
                    let prefix_path = tail[..tail.find('{').unwrap_or(0)].trim_end_matches("::");
                    for name in m.code[group_start..group_end].split(',') {
                        let first = name.trim().split("::").next().unwrap_or("").trim();
                        let candidate = [base.as_str(), prefix_path, first]
                            .iter()
                            .filter(|s| !s.is_empty())
                            .copied()
                            .collect::<Vec<_>>()
                            .join("::");
                        if known.contains(candidate.as_str()) {
                            to.insert(candidate);
                        }
                    }
                }
                if let Some(p) = best
                    && p != m.path
                {
                    to.insert(p);
                }
            }
        }
        // A module's own submodules are its parts, not its dependencies.
        to.retain(|t| !t.starts_with(&format!("{}::", m.path)) || m.path.is_empty());
        if !m.path.is_empty() {
            graph.insert(m.path.clone(), to);
        }
    }
    graph
}

fn parent(path: &str) -> String {
    path.rsplit_once("::")
        .map(|(p, _)| p.to_owned())
        .unwrap_or_default()
}

/// Every circle of the module graph (Tarjan's strongly connected components of more than
/// one module), each as a path through it back to its start.
fn circles(modules: &[Module]) -> Vec<Vec<String>> {
    let graph = references(modules);
    let names: Vec<&String> = graph.keys().collect();
    let index: BTreeMap<&String, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let edges: Vec<Vec<usize>> = names
        .iter()
        .map(|n| {
            graph[*n]
                .iter()
                .filter_map(|t| index.get(t).copied())
                .collect()
        })
        .collect();
    let mut components = Vec::new();
    let mut state = Tarjan {
        edges: &edges,
        index: vec![None; names.len()],
        low: vec![0; names.len()],
        on_stack: vec![false; names.len()],
        stack: Vec::new(),
        next: 0,
    };
    for v in 0..names.len() {
        if state.index[v].is_none() {
            state.visit(v, &mut components);
        }
    }
    components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut path: Vec<String> = c.iter().map(|i| names[*i].clone()).collect();
            path.sort();
            path.push(path[0].clone());
            path
        })
        .collect()
}

struct Tarjan<'a> {
    edges: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize, components: &mut Vec<Vec<usize>>) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.edges[v] {
            match self.index[w] {
                None => {
                    self.visit(w, components);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            components.push(component);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_in_strings_comments_and_characters_are_not_blocks() {
        let text = "fn a() {\n    let s = \"}\";\n    let c = '}';\n    // }\n    let r = r#\"}\"#;\n    /* } */\n}\nfn b<'x>(v: &'x str) -> &'x str { v }\n";
        let found = functions(&code_only(text));
        assert_eq!(found, vec![(1, "a".to_owned(), 7), (8, "b".to_owned(), 1)]);
    }

    #[test]
    fn test_code_is_left_out() {
        let text = "fn kept() {}\n#[cfg(test)]\nmod tests {\n    fn gone() {\n    }\n}\n";
        let found = functions(&without_tests(text));
        assert_eq!(found, vec![(1, "kept".to_owned(), 1)]);
    }

    fn module(path: &str, code: &str) -> Module {
        Module {
            path: path.into(),
            code: code.into(),
            file: PathBuf::from(path),
        }
    }

    #[test]
    fn a_circle_of_modules_is_found_and_a_tree_is_not() {
        let modules = [
            module("a", "use crate::b::Thing;"),
            module("b", "use crate::{c, d::X};"),
            module("c", "fn f() { crate::a::g() }"),
            module("d", ""),
        ];
        assert_eq!(circles(&modules), vec![vec!["a", "b", "c", "a"]]);
        let tree = [
            module("a", "use crate::b::Thing;"),
            module("b", "use crate::c;"),
            module("c", ""),
        ];
        assert!(circles(&tree).is_empty());
        let nested = [
            module("views", "pub mod certmgr;"),
            module("views::certmgr", "use super::Table; use crate::views::x;"),
        ];
        assert!(circles(&nested).is_empty(), "a parent and its child");
    }
}
