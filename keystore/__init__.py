"""The keystore: each organization's data keys, kept apart from the data (docs/encryption.md).

- `models`: `DataKey`, an org's versioned key (ACTIVE, RETIRED, DESTROYED), wrapped by the KEK;
- `kek`: the key-encryption key (`KeyEncryptionKey`; `LocalKek` from configuration; a KMS plugs
  in there);
- `keys`: an org's keys created, loaded (cached briefly in memory), rotated and destroyed;
- `fields`: the ciphertext format, field encryption and blind indexes, used by `models`.

Its tables live in the database KEYSTORE_URL names (the Tortoise connection and app
`"keystore"`), so a backup of the data never holds a key, and destroying a key makes every copy
of that org's encrypted fields unreadable.

Layer: above `database`, below `models` (so models encrypt and decrypt through it).
"""
