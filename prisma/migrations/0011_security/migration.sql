-- Tokens made by a token remember their parent: revoking a token (or rotating EBB_ADMIN_TOKEN) revokes
-- every token it made, at any depth. `fleets`: the fleets a token may act on; empty means every fleet.
ALTER TABLE "api_tokens" ADD COLUMN "made_by_token" UUID;
ALTER TABLE "api_tokens" ADD COLUMN "fleets" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_made_by_token_fkey"
  FOREIGN KEY ("made_by_token") REFERENCES "api_tokens"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "api_tokens_made_by_token_idx" ON "api_tokens"("made_by_token");
