//! Where things live in a profile, per Windows version and Lync version.

use std::path::{Path, PathBuf};

use lyncsim_domain::{Os, Product};

/// The paths of one profile.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    os: Os,
    product: Product,
    windows_user: String,
    sid: String,
}

impl Layout {
    /// The layout of a profile at `root`.
    pub fn new(root: &Path, os: Os, product: Product, windows_user: &str, sid: &str) -> Layout {
        Layout {
            root: root.to_path_buf(),
            os,
            product,
            windows_user: windows_user.to_owned(),
            sid: sid.to_owned(),
        }
    }

    /// The profile folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `machine.toml`.
    pub fn machine_file(&self) -> PathBuf {
        self.root.join("machine.toml")
    }

    /// The user's home (`Users\<name>` or `Documents and Settings\<name>`).
    pub fn home(&self) -> PathBuf {
        if self.os.is_xp_layout() {
            self.root
                .join("Documents and Settings")
                .join(&self.windows_user)
        } else {
            self.root.join("Users").join(&self.windows_user)
        }
    }

    /// `%LOCALAPPDATA%`.
    pub fn local_app_data(&self) -> PathBuf {
        if self.os.is_xp_layout() {
            self.home().join("Local Settings").join("Application Data")
        } else {
            self.home().join("AppData").join("Local")
        }
    }

    /// `%APPDATA%`.
    pub fn roaming_app_data(&self) -> PathBuf {
        if self.os.is_xp_layout() {
            self.home().join("Application Data")
        } else {
            self.home().join("AppData").join("Roaming")
        }
    }

    /// The product's folder under `%LOCALAPPDATA%`.
    pub fn product_dir(&self) -> PathBuf {
        let ms = self.local_app_data().join("Microsoft");
        match self.product {
            Product::Lync2010 => ms.join("Communicator"),
            Product::Lync2013 => ms.join("Office").join("15.0").join("Lync"),
        }
    }

    /// The endpoint cache folder of a sign-in address: `sip_<addr>`.
    pub fn endpoint_dir(&self, address: &str) -> PathBuf {
        self.product_dir()
            .join(format!("sip_{}", address.to_ascii_lowercase()))
    }

    /// The endpoint cache file of a sign-in address.
    pub fn endpoint_cache(&self, address: &str) -> PathBuf {
        self.endpoint_dir(address)
            .join("EndpointConfiguration.cache")
    }

    /// The trace log.
    pub fn trace_file(&self) -> PathBuf {
        let name = match self.product {
            Product::Lync2010 => "Communicator-uccapi-0.uccapilog",
            Product::Lync2013 => "Lync-UccApi-0.UccApilog",
        };
        self.product_dir().join("Tracing").join(name)
    }

    /// The personal certificate store (`SystemCertificates\My\Certificates`).
    pub fn cert_store(&self) -> PathBuf {
        self.roaming_app_data()
            .join("Microsoft")
            .join("SystemCertificates")
            .join("My")
            .join("Certificates")
    }

    /// The user's RSA key containers (`Crypto\RSA\<SID>`).
    pub fn rsa_dir(&self) -> PathBuf {
        self.roaming_app_data()
            .join("Microsoft")
            .join("Crypto")
            .join("RSA")
            .join(&self.sid)
    }

    /// Credential Manager's folder.
    pub fn credentials_dir(&self) -> PathBuf {
        if self.os.is_xp_layout() {
            self.roaming_app_data()
                .join("Microsoft")
                .join("Credentials")
                .join(&self.sid)
        } else {
            self.local_app_data().join("Microsoft").join("Credentials")
        }
    }

    /// The DNS Client service's cache (in memory on Windows; a file here, so that it lasts
    /// from one command to the next until `ipconfig /flushdns` or its TTLs end it).
    pub fn dns_cache(&self) -> PathBuf {
        self.root
            .join("Windows")
            .join("System32")
            .join("dnscache.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(layout: &Layout, p: PathBuf) -> String {
        p.strip_prefix(layout.root())
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn win7_and_xp_paths_are_the_real_ones() {
        let sid = "S-1-5-21-1-2-3-1001";
        let w7 = Layout::new(Path::new("/p"), Os::Win7, Product::Lync2010, "jdoe", sid);
        assert_eq!(
            rel(&w7, w7.endpoint_cache("Alice@contoso.com")),
            "Users/jdoe/AppData/Local/Microsoft/Communicator/sip_alice@contoso.com/EndpointConfiguration.cache"
        );
        assert_eq!(
            rel(&w7, w7.cert_store()),
            "Users/jdoe/AppData/Roaming/Microsoft/SystemCertificates/My/Certificates"
        );
        assert_eq!(
            rel(&w7, w7.rsa_dir()),
            format!("Users/jdoe/AppData/Roaming/Microsoft/Crypto/RSA/{sid}")
        );
        let xp = Layout::new(Path::new("/p"), Os::Xp, Product::Lync2010, "jdoe", sid);
        assert_eq!(
            rel(&xp, xp.endpoint_dir("alice@contoso.com")),
            "Documents and Settings/jdoe/Local Settings/Application Data/Microsoft/Communicator/sip_alice@contoso.com"
        );
        assert_eq!(
            rel(&xp, xp.rsa_dir()),
            format!("Documents and Settings/jdoe/Application Data/Microsoft/Crypto/RSA/{sid}")
        );
        let w8 = Layout::new(Path::new("/p"), Os::Win8, Product::Lync2013, "jdoe", sid);
        assert_eq!(
            rel(&w8, w8.endpoint_dir("alice@contoso.com")),
            "Users/jdoe/AppData/Local/Microsoft/Office/15.0/Lync/sip_alice@contoso.com"
        );
    }
}
