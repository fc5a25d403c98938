//! What the target's layers read of a directory's objects, object by object.
//!
//! Takes: the lowered policy's target and the objects (or the files) under the
//! directory, in order. Gives: what each layer read ([`Read`]), and from it the
//! layers, each indexing its part, and the problems they found reading. The caller
//! turns one into the other, so it can run other work beside the indexing.
//! Must not: keep an object's YAML tree once its layer has read it, or change the
//! order the layers see objects in (later objects replace earlier ones).
//!
//! Why: the bulk of a directory is NetworkPolicies and mesh policies, a hundred
//! thousand objects at 10,000 segments. Holding all their trees while the layers read
//! them took most of verify's memory; each is now read as soon as it is parsed and
//! only what its layer makes of it is kept. The ingress layer's objects are kept whole
//! (they are one or two per exposure, and Traefik's routes read their Middlewares).

use rayon::prelude::*;

use crate::ir::{IngressKind, MeshKind, Policy};

use super::istio::IstioPolicies;
use super::linkerd::LinkerdPolicies;
use super::manifests::{File, ReadError};
use super::netpol::NetworkPolicies;
use super::nginx::NginxIngresses;
use super::traefik::TraefikRoutes;
use super::{istio, linkerd, netpol, IngressLayer, Layer, Manifest, Problem};

/// The layers of a target, built from what they read.
pub struct Layers {
    pub netpol: NetworkPolicies,
    pub mesh: Option<Box<dyn Layer + Send>>,
    pub ingress: Box<dyn IngressLayer + Send>,
    /// Problems reading the objects, NetworkPolicies first, then the mesh's, then the
    /// ingress's, each in object order.
    pub problems: Vec<Problem>,
}

/// What was read, per layer, in object order.
///
/// Files are read in parallel straight into these, each worker folding its run of files
/// and neighbouring runs appended in order; collecting what each file gave first cost a
/// vector per file (97,153 files at 10,000 segments, about 90 MB at the peak).
#[derive(Default)]
struct ByLayer {
    netpol: Vec<netpol::Item>,
    istio: Vec<istio::Item>,
    linkerd: Vec<linkerd::Item>,
    ingress: Vec<Manifest>,
}

impl ByLayer {
    /// Adds what a later run of objects gave.
    fn append(mut self, mut later: ByLayer) -> ByLayer {
        self.netpol.append(&mut later.netpol);
        self.istio.append(&mut later.istio);
        self.linkerd.append(&mut later.linkerd);
        self.ingress.append(&mut later.ingress);
        self
    }
}

/// [`ByLayer`] of a run of files, or the first of them that could not be read.
type Run = Result<ByLayer, ReadError>;

/// Appends `later` to `earlier`, keeping the error of the earliest file.
fn append_run(earlier: Run, later: Run) -> Run {
    Ok(earlier?.append(later?))
}

/// The target's readers: what each layer reads of one object.
struct Readers<'p> {
    policy: &'p Policy,
    linkerd: Option<LinkerdPolicies>,
}

impl<'p> Readers<'p> {
    fn new(policy: &'p Policy) -> Readers<'p> {
        let linkerd =
            (policy.target.mesh == MeshKind::Linkerd).then(|| LinkerdPolicies::reader(&policy.target.identity_suffix));
        Readers { policy, linkerd }
    }

    /// What the layers read of `manifest`, after what `out` holds; the tree is dropped
    /// here unless the ingress layer keeps it.
    fn read(&self, manifest: Manifest, out: &mut ByLayer) {
        out.netpol.extend(NetworkPolicies::read(&manifest));
        match self.policy.target.mesh {
            MeshKind::Istio => out.istio.extend(IstioPolicies::read(&manifest, &self.policy.target.trust_domain)),
            MeshKind::Linkerd => out.linkerd.extend(self.linkerd.as_ref().and_then(|l| l.read_item(&manifest))),
            MeshKind::None => {}
        }
        let ingress = match self.policy.target.ingress {
            IngressKind::Nginx => NginxIngresses::reads(&manifest),
            IngressKind::Traefik => TraefikRoutes::reads(&manifest),
        };
        if ingress {
            out.ingress.push(manifest);
        }
    }

    /// The layers of what was read, in object order.
    fn layers(self, read: ByLayer) -> Layers {
        let ByLayer { netpol, istio, linkerd, ingress } = read;
        let target = &self.policy.target;
        let ((netpol, netpol_problems), ((mesh, mesh_problems), (ingress, ingress_problems))) = rayon::join(
            || NetworkPolicies::from_items(netpol),
            || {
                rayon::join(
                    || -> (Option<Box<dyn Layer + Send>>, Vec<Problem>) {
                        match (target.mesh, self.linkerd) {
                            (MeshKind::Istio, _) => {
                                let (layer, problems) = IstioPolicies::from_items(istio, &target.trust_domain);
                                (Some(Box::new(layer)), problems)
                            }
                            (MeshKind::Linkerd, Some(reader)) => {
                                let (layer, problems) = reader.with_items(linkerd);
                                (Some(Box::new(layer)), problems)
                            }
                            _ => (None, Vec::new()),
                        }
                    },
                    || -> (Box<dyn IngressLayer + Send>, Vec<Problem>) {
                        match target.ingress {
                            IngressKind::Nginx => {
                                let (layer, problems) = NginxIngresses::new(&ingress, "nginx");
                                (Box::new(layer), problems)
                            }
                            IngressKind::Traefik => {
                                let (layer, problems) = TraefikRoutes::new(&ingress);
                                (Box::new(layer), problems)
                            }
                        }
                    },
                )
            },
        );
        let mut problems = netpol_problems;
        problems.extend(mesh_problems);
        problems.extend(ingress_problems);
        Layers { netpol, mesh, ingress, problems }
    }
}

/// What the layers read of a directory's objects, before they index it
/// ([`Read::into_layers`]).
pub struct Read<'p> {
    readers: Readers<'p>,
    by_layer: ByLayer,
}

impl Read<'_> {
    /// The layers, each indexing what it read (side by side).
    pub fn into_layers(self) -> Layers {
        self.readers.layers(self.by_layer)
    }
}

/// What the layers read of objects already parsed.
pub fn read_manifests(policy: &Policy, manifests: Vec<Manifest>) -> Read<'_> {
    let readers = Readers::new(policy);
    let by_layer = manifests
        .into_par_iter()
        .fold(ByLayer::default, |mut out, manifest| {
            readers.read(manifest, &mut out);
            out
        })
        .reduce(ByLayer::default, ByLayer::append);
    Read { readers, by_layer }
}

/// What the layers read of the objects in `files`, each parsed and read at once: the
/// first file that is not valid YAML (in file order) is the error.
pub fn read_files(policy: &Policy, files: Vec<File>) -> Result<Read<'_>, ReadError> {
    let readers = Readers::new(policy);
    // Not `try_fold`: it stops at whichever error a worker meets first, and the error
    // reported must be the first in file order. A run that failed skips its later files.
    let by_layer = files
        .into_par_iter()
        .fold(
            || Ok(ByLayer::default()),
            |run: Run, file| {
                let mut out = run?;
                for manifest in file.manifests()? {
                    readers.read(manifest, &mut out);
                }
                Ok(out)
            },
        )
        .reduce(|| Ok(ByLayer::default()), append_run)?;
    Ok(Read { readers, by_layer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::sample::shop;
    use crate::verify::manifests::files;

    /// Many files read in parallel, two of them broken: the error is the first broken
    /// file's in path order, whichever worker meets which first.
    #[test]
    fn the_error_is_the_first_broken_file_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let good = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: shop\n";
        for i in 0..200 {
            let text = if i == 37 || i == 150 { "a: [" } else { good };
            std::fs::write(dir.path().join(format!("f{i:03}.yaml")), text).unwrap();
        }
        let policy = shop(IngressKind::Nginx, MeshKind::Istio);
        for _ in 0..20 {
            match read_files(&policy, files(dir.path()).unwrap()) {
                Err(ReadError::Yaml(path, _)) => assert!(path.ends_with("f037.yaml"), "{}", path.display()),
                Err(e) => panic!("unexpected error: {e}"),
                Ok(_) => panic!("broken files were read"),
            }
        }
    }
}
