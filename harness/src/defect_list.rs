//! The one shape of a defect list, shared by the mock CA's defects and the own
//! client's: a defect is only worth having if it names the checks it must make fail,
//! and both defect matrices hold each defect to exactly that list. Declaring the name,
//! the sentence and the list in one line per defect keeps the three from drifting.

/// Declares a defect enum: each variant with its doc sentence (the description), its
/// command-line name and the ids it must make fail.
macro_rules! defect_list {
    (
        $(#[$meta:meta])* $enum:ident, name_doc = $name_doc:literal, fails_doc = $fails_doc:literal;
        $( $(#[doc = $doc:literal])* $variant:ident = $name:literal, fails = [$($id:literal),* $(,)?]; )*
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[non_exhaustive]
        pub enum $enum {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl $enum {
            /// Every defect.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),*];

            #[doc = $name_doc]
            pub fn name(self) -> &'static str {
                match self { $($enum::$variant => $name,)* }
            }

            /// What the defect breaks, in one sentence.
            pub fn description(self) -> &'static str {
                match self { $($enum::$variant => concat!($($doc),*).trim_ascii(),)* }
            }

            #[doc = $fails_doc]
            pub fn fails(self) -> &'static [&'static str] {
                match self { $($enum::$variant => &[$($id),*],)* }
            }
        }
    };
}

pub(crate) use defect_list;
