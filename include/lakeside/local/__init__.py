"""The embedded default's tooling, apart from the platform: what `make demo` runs (:mod:`.demo`),
the local UI mode (:mod:`.ui`), a Spark standalone cluster on loopback (:mod:`.cluster`) and a
local PostgreSQL server (:mod:`.postgres`)."""
