//! The set of recorded prompts a dialplan may use: `<dir>/<language>/<id>.wav`.
//!
//! Owns: listing which prompt ids exist in which language, so that the
//! compiler can report a prompt missing in any language the dialplan offers.
//! Must never read or decode the audio itself (the media layer does that),
//! and never panic on a strange directory (unreadable entries are errors,
//! files that are not `.wav` are ignored).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// Which prompt ids exist per language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptCatalog {
    by_language: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PromptCatalogError {
    #[error("cannot read the prompts directory {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
}

impl PromptCatalog {
    /// Lists `<dir>/<language>/<id>.wav`: every sub-directory is a language,
    /// every `.wav` file in it a prompt. Other files are ignored.
    pub fn from_dir(dir: &Path) -> Result<PromptCatalog, PromptCatalogError> {
        let read = |path: &Path| {
            std::fs::read_dir(path).map_err(|source| PromptCatalogError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let mut catalog = PromptCatalog::default();
        for entry in read(dir)? {
            let entry = entry.map_err(|source| PromptCatalogError::Read {
                path: dir.to_path_buf(),
                source,
            })?;
            let language_dir = entry.path();
            if !language_dir.is_dir() {
                continue;
            }
            let Some(language) = language_dir
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let ids = catalog.by_language.entry(language).or_default();
            for file in read(&language_dir)? {
                let file = file.map_err(|source| PromptCatalogError::Read {
                    path: language_dir.clone(),
                    source,
                })?;
                let path = file.path();
                if path.extension().and_then(|e| e.to_str()) != Some("wav") || !path.is_file() {
                    continue;
                }
                if let Some(id) = path.file_stem().and_then(|s| s.to_str()) {
                    ids.insert(id.to_owned());
                }
            }
        }
        Ok(catalog)
    }

    /// A catalogue from (language, id) pairs, for tests and tools.
    pub fn from_list<L, I>(prompts: impl IntoIterator<Item = (L, I)>) -> PromptCatalog
    where
        L: Into<String>,
        I: Into<String>,
    {
        let mut catalog = PromptCatalog::default();
        for (language, id) in prompts {
            catalog
                .by_language
                .entry(language.into())
                .or_default()
                .insert(id.into());
        }
        catalog
    }

    /// Whether `<language>/<id>.wav` exists.
    pub fn contains(&self, language: &str, id: &str) -> bool {
        self.by_language
            .get(language)
            .is_some_and(|ids| ids.contains(id))
    }

    /// The languages that have a folder, in order.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.by_language.keys().map(String::as_str)
    }

    /// The prompt ids of one language, in order.
    pub fn ids(&self, language: &str) -> impl Iterator<Item = &str> {
        self.by_language
            .get(language)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_prompt_exists_only_in_its_language() {
        let catalog =
            PromptCatalog::from_list([("ca", "welcome"), ("es", "welcome"), ("ca", "goodbye")]);
        assert!(catalog.contains("ca", "goodbye"));
        assert!(!catalog.contains("es", "goodbye"));
        assert!(!catalog.contains("en", "welcome"));
        assert_eq!(catalog.languages().collect::<Vec<_>>(), ["ca", "es"]);
        assert_eq!(
            catalog.ids("ca").collect::<Vec<_>>(),
            ["goodbye", "welcome"]
        );
    }

    #[test]
    fn a_directory_lists_wav_files_per_language_folder() {
        let dir = std::env::temp_dir().join(format!("ivr-prompts-catalog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ca")).expect("temp dir");
        std::fs::create_dir_all(dir.join("es")).expect("temp dir");
        std::fs::write(dir.join("ca/welcome.wav"), b"RIFF").expect("temp file");
        std::fs::write(dir.join("ca/notes.txt"), b"x").expect("temp file");
        std::fs::write(dir.join("es/welcome.wav"), b"RIFF").expect("temp file");
        std::fs::write(dir.join("README.md"), b"x").expect("temp file");
        let catalog = PromptCatalog::from_dir(&dir).expect("readable");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            catalog,
            PromptCatalog::from_list([("ca", "welcome"), ("es", "welcome")])
        );
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let error =
            PromptCatalog::from_dir(Path::new("/nonexistent/prompts")).expect_err("missing");
        assert!(
            error
                .to_string()
                .starts_with("cannot read the prompts directory /nonexistent/prompts: ")
        );
    }
}
