//! Embeds the built-in scenario suite (`fixtures/scenarios`) and the scripts its scenarios
//! run (`fixtures/scripts`), so that `lyncsim run` works from any folder.

use std::path::{Path, PathBuf};

fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .expect("under the root")
                    .to_path_buf(),
            );
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let fixtures = manifest.join("../../fixtures");
    let mut out = Vec::new();
    for sub in ["scenarios", "scripts"] {
        let dir = fixtures.join(sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        files(&fixtures, &dir, &mut out);
    }
    let mut code = String::from(
        "/// The embedded files: path under `fixtures/`, contents.\npub(crate) const FILES: &[(&str, &[u8])] = &[\n",
    );
    for rel in out {
        let rel = rel.to_string_lossy().replace('\\', "/");
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../../fixtures/\", {rel:?}))),\n"
        ));
    }
    code.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("builtin.rs");
    std::fs::write(dest, code).expect("writing builtin.rs");
}
