//! Products and operating systems, by the ids that SPEC.md, the CLI and the files use.

/// An id that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}; expected one of: {expected}")]
pub struct ParseIdError {
    /// What kind of id was being parsed ("product", "os").
    pub what: &'static str,
    /// The text that was given.
    pub given: String,
    /// The accepted ids, comma separated.
    pub expected: String,
}

macro_rules! id_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $id:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $id)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The id used in SPEC.md, on the command line and in files.
            pub fn id(self) -> &'static str {
                match self { $($name::$variant => $id,)+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.id())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.id() == s).ok_or_else(|| $crate::ParseIdError {
                    what: $what,
                    given: s.to_owned(),
                    expected: Self::ALL.iter().map(|v| v.id()).collect::<Vec<_>>().join(", "),
                })
            }
        }
    };
}

id_enum!(
    /// The Lync desktop client being emulated.
    Product, "product", {
        /// Lync 2010: signs in through the Microsoft Online Services Sign-In Assistant.
        Lync2010 => "lync2010",
        /// Lync 2013: has its own sign-in; runs on Windows 7 and 8 only.
        Lync2013 => "lync2013",
    }
);

id_enum!(
    /// The Windows version whose profile layout the emulated machine uses.
    Os, "os", {
        /// Windows XP: `Documents and Settings`, `Local Settings\Application Data`.
        Xp => "xp",
        /// Windows Vista.
        Vista => "vista",
        /// Windows 7.
        Win7 => "win7",
        /// Windows 8.
        Win8 => "win8",
    }
);

impl Product {
    /// Whether the product installs on the OS. Lync 2013 is part of Office 2013, which
    /// requires Windows 7 or later (Office 2013's system requirements): neither XP, which the
    /// KB calls out, nor Vista. Lync 2010 ran on all four.
    pub fn runs_on(self, os: Os) -> bool {
        match self {
            Product::Lync2010 => true,
            Product::Lync2013 => matches!(os, Os::Win7 | Os::Win8),
        }
    }

    /// Whether sign-in goes through the Microsoft Online Services Sign-In Assistant.
    pub fn uses_sign_in_assistant(self) -> bool {
        self == Product::Lync2010
    }

    /// The name the product shows in its own title bar and messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Product::Lync2010 => "Microsoft Lync 2010",
            Product::Lync2013 => "Microsoft Lync 2013",
        }
    }
}

impl Os {
    /// The name Windows gives itself ("Windows XP").
    pub fn display_name(self) -> &'static str {
        match self {
            Os::Xp => "Windows XP",
            Os::Vista => "Windows Vista",
            Os::Win7 => "Windows 7",
            Os::Win8 => "Windows 8",
        }
    }

    /// Whether user folders follow the XP layout (`Documents and Settings`).
    pub fn is_xp_layout(self) -> bool {
        self == Os::Xp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for p in Product::ALL {
            assert_eq!(p.id().parse::<Product>().unwrap(), *p);
        }
        for o in Os::ALL {
            assert_eq!(o.id().parse::<Os>().unwrap(), *o);
        }
    }

    #[test]
    fn unknown_id_lists_the_known_ones() {
        let err = "lync2007".parse::<Product>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown product "lync2007"; expected one of: lync2010, lync2013"#
        );
    }

    #[test]
    fn lync_2013_does_not_run_on_xp() {
        assert!(!Product::Lync2013.runs_on(Os::Xp));
        assert!(Product::Lync2013.runs_on(Os::Win7));
        assert!(Product::Lync2010.runs_on(Os::Xp));
    }
}
