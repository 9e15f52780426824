//! `schakel audit witness` and `schakel audit consistency`: any
//! participant keeps the last signed head of the gateway's audit log it saw
//! and checks that each newer one extends it, compares heads with another
//! participant, or checks the proof between two sizes.

use std::path::Path;

use anyhow::Context;
use schakel_client::Client;
use schakel_client::audit_file::{tree_head_from_json, tree_head_json as head_json};
use schakel_client::proto as pb;
use serde_json::{Value, json};

use super::Output;

/// The head kept in `file`, if it exists.
fn read_head(file: &Path) -> anyhow::Result<Option<pb::TreeHead>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let v: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON written by `schakel audit witness`",
            file.display()
        )
    })?;
    tree_head_from_json(&v).map(Some).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}; it is not a head `schakel audit witness` kept",
            file.display()
        )
    })
}

/// Writes `head` to `file` whole (a temporary file renamed over it), so
/// that a witness stopped half-way keeps the head it had.
fn write_head(file: &Path, head: &pb::TreeHead) -> anyhow::Result<()> {
    let tmp = file.with_extension("json.partial");
    std::fs::write(&tmp, format!("{:#}\n", head_json(head)))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("cannot write {}", file.display()))
}

/// `schakel audit witness`.
pub async fn witness(
    client: &Client,
    out: &Output,
    state: &Path,
    compare: Option<&Path>,
) -> anyhow::Result<()> {
    let seen = read_head(state)?;
    let newest = client.witness(seen.as_ref()).await?;
    write_head(state, &newest)?;
    let first = seen.is_none();
    out.record(
        "tree_head",
        json!({"head": head_json(&newest), "extends_size": seen.as_ref().map(|s| s.size), "first_seen": first}),
        || match &seen {
            None => format!(
                "first head kept: {} entries, root {} (taken on trust; every later head is checked against it) in {}",
                newest.size,
                hex::encode(&newest.root_hash),
                state.display()
            ),
            Some(s) => format!(
                "the log extends the head you kept: {} entries then, {} now, root {}",
                s.size,
                newest.size,
                hex::encode(&newest.root_hash)
            ),
        },
    );
    if let Some(other) = compare {
        let theirs = read_head(other)?.with_context(|| {
            format!(
                "{} does not exist: give the file another participant's witness kept",
                other.display()
            )
        })?;
        client.compare_heads(&newest, &theirs).await?;
        out.record(
            "heads_compared",
            json!({"theirs": head_json(&theirs), "ours": head_json(&newest), "consistent": true}),
            || {
                format!(
                    "the head in {} ({} entries) and yours ({} entries) are of one log",
                    other.display(),
                    theirs.size,
                    newest.size
                )
            },
        );
    }
    Ok(())
}

/// `schakel audit consistency`.
pub async fn consistency(client: &Client, out: &Output, from: u64, to: u64) -> anyhow::Result<()> {
    let earlier = client
        .tree_head(Some(from), None)
        .await?
        .head
        .unwrap_or_default();
    let later = client
        .tree_head((to > 0).then_some(to), None)
        .await?
        .head
        .unwrap_or_default();
    let proof = client.compare_heads(&earlier, &later).await?;
    let proof: Vec<String> = proof.iter().map(hex::encode).collect();
    out.record(
        "consistency",
        json!({"from": head_json(&earlier), "to": head_json(&later), "proof": proof, "verified": true}),
        || {
            format!(
                "the log of {} entries extends the log of {} (a proof of {} hashes, verified)",
                later.size,
                earlier.size,
                proof.len()
            )
        },
    );
    Ok(())
}
