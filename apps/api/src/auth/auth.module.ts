import { Global, Module } from "@nestjs/common";
import { AuthController } from "./auth.controller.js";
import { AuthService } from "./auth.service.js";
import { CredentialWatch } from "./credential-watch.js";
import { LoginThrottle } from "./login-throttle.js";
import { TokensController } from "./tokens.controller.js";
import { TokensService } from "./tokens.service.js";
import { UsersController } from "./users.controller.js";
import { UsersService } from "./users.service.js";

/**
 * Users, sessions, API tokens (api role). Global so that any feature module can inject `CredentialWatch`
 * (event streams close when their credential is revoked). The guard itself is registered by AppModule
 * as APP_GUARD, so every HTTP route of the app is behind it.
 */
@Global()
@Module({
  controllers: [AuthController, UsersController, TokensController],
  providers: [AuthService, CredentialWatch, LoginThrottle, UsersService, TokensService],
  exports: [AuthService, CredentialWatch],
})
export class AuthModule {}
