"""Signing above the token: CMS SignedData (cms), and later one-shot and batch signers."""
