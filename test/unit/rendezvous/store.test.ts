// The store contract on the in-memory store, the default (a shared store runs the same suite with its factory).
import { MemoryStore } from "../../../src/rendezvous/store.ts";
import { describeStoreContract } from "./store-contract.ts";

describeStoreContract("MemoryStore", () => new MemoryStore());
