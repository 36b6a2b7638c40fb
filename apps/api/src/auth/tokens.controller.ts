import {
  type CreateTokenBody,
  type CreateTokenResponse,
  createTokenBodySchema,
  type TokenView,
} from "@ebb/contracts";
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  ParseUUIDPipe,
  Post,
  Req,
} from "@nestjs/common";
import { Access } from "./access.js";
import type { AuthenticatedRequest, Principal } from "./principal.js";
import { TokensService } from "./tokens.service.js";

/** /api/v1/tokens: API tokens for CI. Any caller may hold tokens up to its own scope. */
@Controller("tokens")
@Access("read")
export class TokensController {
  @Inject(TokensService) private readonly tokens!: TokensService;

  @Get()
  list(@Req() req: AuthenticatedRequest): Promise<TokenView[]> {
    return this.tokens.list(req.principal as Principal);
  }

  /** 201 with the value: the only time it is shown. */
  @Post()
  @HttpCode(201)
  create(
    @Req() req: AuthenticatedRequest,
    @Body({ schema: createTokenBodySchema }) body: CreateTokenBody,
  ): Promise<CreateTokenResponse> {
    return this.tokens.create(req.principal as Principal, body);
  }

  @Delete(":id")
  @HttpCode(204)
  revoke(@Req() req: AuthenticatedRequest, @Param("id", ParseUUIDPipe) id: string): Promise<void> {
    return this.tokens.revoke(req.principal as Principal, id);
  }
}
