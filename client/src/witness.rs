//! Witnessing the gateway's audit log: every participant can keep the last
//! signed tree head it saw and check that each newer one extends it, and two
//! participants can compare the heads they hold. An operator who rewrote or
//! dropped entries offline can sign new heads with the gateway's key, but
//! no head that extends one already handed out: whoever holds an older head
//! sees it (docs/INTEGRATION.md, "Witnessing the audit log").

use schakel_proto::tree_head::{ExtendsProblem, check_extends, check_head};

use crate::{Client, ClientError, proto as pb};

impl Client {
    /// The head of the tree of `size` leaves (None: the newest), with the
    /// consistency proof from the tree of `extends` leaves, as the gateway
    /// answers it (unchecked).
    pub async fn tree_head(
        &self,
        size: Option<u64>,
        extends: Option<u64>,
    ) -> Result<pb::TreeHeadResponse, ClientError> {
        let request = pb::TreeHeadRequest {
            size: size.unwrap_or(0),
            extends_size: extends.unwrap_or(0),
        };
        Ok(self.directory().tree_head(request).await?.into_inner())
    }

    /// The newest head, checked: signed by the gateway and, given the head
    /// `seen` before, proved to extend it. Keep what it returns as the next
    /// `seen`. Without `seen` (the first time) the head is taken on trust.
    pub async fn witness(&self, seen: Option<&pb::TreeHead>) -> Result<pb::TreeHead, ClientError> {
        let newest = self.tree_head(None, None).await?;
        let newest = newest.head.unwrap_or_default();
        let keys = self.keys(false).await?;
        let keys = match check_head(&keys, &newest) {
            Ok(()) => keys,
            Err(_) => self.keys(true).await?,
        };
        let Some(seen) = seen else {
            check_head(&keys, &newest)
                .map_err(|e| ClientError::NotAppendOnly(ExtendsProblem::Head(e)))?;
            return Ok(newest);
        };
        self.extends(&keys, seen, &newest).await?;
        Ok(newest)
    }

    /// Checks two heads held by different participants (or one held and
    /// one handed over) against each other: the larger must extend the
    /// smaller, by the gateway's proof, and the gateway's own head of the
    /// larger size must be that one. Returns the proof (empty for equal
    /// sizes).
    pub async fn compare_heads(
        &self,
        a: &pb::TreeHead,
        b: &pb::TreeHead,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let (earlier, later) = if a.size <= b.size { (a, b) } else { (b, a) };
        let keys = self.keys(true).await?;
        self.extends(&keys, earlier, later).await
    }

    /// Checks that `later` extends `earlier`, asking the gateway for the
    /// proof, which it returns; the gateway's head of `later`'s size must be
    /// `later` itself.
    async fn extends(
        &self,
        keys: &crate::KeyRing,
        earlier: &pb::TreeHead,
        later: &pb::TreeHead,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let not = ClientError::NotAppendOnly;
        if later.size <= earlier.size {
            return check_extends(keys, earlier, later, &[])
                .map(|()| Vec::new())
                .map_err(not);
        }
        let answer = match self.tree_head(Some(later.size), Some(earlier.size)).await {
            // A head it signed, which it no longer has: checked first, so
            // that a head nobody signed is not taken for evidence.
            Err(ClientError::Status(s)) if s.code() == tonic::Code::NotFound => {
                check_head(keys, later).map_err(|e| not(ExtendsProblem::Head(e)))?;
                return Err(not(ExtendsProblem::Disowned { size: later.size }));
            }
            answer => answer?,
        };
        let theirs = answer.head.unwrap_or_default();
        check_head(keys, &theirs).map_err(|e| not(ExtendsProblem::Head(e)))?;
        if theirs.root_hash != later.root_hash {
            return Err(not(ExtendsProblem::Forked { size: later.size }));
        }
        check_extends(keys, earlier, later, &answer.consistency_proof).map_err(not)?;
        Ok(answer.consistency_proof)
    }
}
