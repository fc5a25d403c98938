//! The stable diagnostic codes. A code never changes meaning once released;
//! docs/diagnostics.md lists each with a minimal example, and golden/diagnostics
//! holds one failing case per code.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($( $code:ident = $sev:ident, $summary:literal; )*) => {
        /// A kind of diagnostic. `E` codes are errors, `W` codes warnings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $( $code, )* }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$code, )* ];

            pub fn as_str(self) -> &'static str {
                match self { $( Code::$code => stringify!($code), )* }
            }

            pub fn severity(self) -> Severity {
                match self { $( Code::$code => Severity::$sev, )* }
            }

            /// One line saying what the code is about, for docs and `--format json`.
            pub fn summary(self) -> &'static str {
                match self { $( Code::$code => $summary, )* }
            }
        }
    };
}

codes! {
    // Input files
    E0001 = Error, "the file is not UTF-8 text";
    E0002 = Error, "the file is too large";
    E0003 = Error, "nothing to compile: no segments are declared";
    // Syntax
    E0101 = Error, "unexpected input";
    E0102 = Error, "unterminated string";
    E0103 = Error, "a character outside ASCII in a name or bare value";
    // Names
    E0201 = Error, "unknown segment or external";
    E0202 = Error, "unknown port";
    E0203 = Error, "unknown trust level";
    E0204 = Error, "unknown standard-library name";
    E0205 = Error, "duplicate declaration";
    E0206 = Error, "a second trust block";
    E0207 = Error, "a property given twice";
    E0208 = Error, "a required property is missing";
    E0209 = Error, "unknown ingress or mesh implementation, or target setting value";
    E0210 = Error, "a reserved name is declared";
    // Imports
    E0301 = Error, "imported file not found";
    E0302 = Error, "import cycle";
    E0303 = Error, "import leaves the project root";
    E0304 = Error, "unknown standard-library module";
    // Values
    E0401 = Error, "port number out of range";
    E0402 = Error, "invalid port specification or protocol";
    E0403 = Error, "invalid Kubernetes name";
    E0404 = Error, "invalid port name";
    E0405 = Error, "invalid label selector";
    E0406 = Error, "invalid CIDR";
    E0407 = Error, "invalid host";
    E0408 = Error, "invalid path";
    E0409 = Error, "invalid HTTP method";
    E0410 = Error, "two ports of one segment share a number and protocol";
    E0411 = Error, "invalid auth URL";
    // Types and trust
    E0501 = Error, "methods or paths on a port that is not HTTP";
    E0502 = Error, "the destination's trust level does not accept the source's";
    E0503 = Error, "exposure of a trust level that does not accept `internet`";
    E0504 = Error, "exposure without TLS where TLS is required";
    E0505 = Error, "a caller without a mesh identity into a level that requires mTLS";
    E0506 = Error, "an external or the internet used as a source";
    E0507 = Error, "exposure of a port that is not HTTP or gRPC";
    E0508 = Error, "exposure of something that is not one of your segments";
    // Overlaps and collisions
    E0601 = Error, "two segments in one namespace can select the same pod";
    E0602 = Error, "the same host and path exposed twice";
    E0603 = Error, "two segments share a Service name in one namespace";
    // Assertions
    E0701 = Error, "an allow or exposure breaks a `forbid`";
    E0702 = Error, "a chain of allows breaks a transitive `forbid`";
    // Verify: the manifests against the policy
    E0801 = Error, "a layer allows a connection or request that the policy does not declare";
    E0802 = Error, "a layer denies a connection or request that the policy declares";
    E0803 = Error, "shadow path: the ingress routes a request that another layer denies";
    E0804 = Error, "the ingress routes differently from the exposures";
    // Warnings
    W0101 = Warning, "wildcard host";
    W0102 = Warning, "catch-all path exposed on a level above the lowest";
    W0103 = Warning, "unused segment";
    W0104 = Warning, "the default client allowlist spelled out";
    W0105 = Warning, "duplicate allow";
    W0106 = Warning, "an external that covers the whole internet";
    W0801 = Warning, "verify cannot interpret a manifest";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_severities_agree() {
        for code in Code::ALL {
            let expected = if code.as_str().starts_with('E') { Severity::Error } else { Severity::Warning };
            assert_eq!(code.severity(), expected, "{code}");
        }
    }
}
