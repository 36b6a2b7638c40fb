import {
  type CreateUserBody,
  createUserBodySchema,
  type UpdateUserBody,
  type UserView,
  updateUserBodySchema,
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
  Patch,
  Post,
} from "@nestjs/common";
import { Access } from "./access.js";
import { UsersService } from "./users.service.js";

/** /api/v1/users: dashboard accounts, admins only. */
@Controller("users")
@Access("admin")
export class UsersController {
  @Inject(UsersService) private readonly users!: UsersService;

  @Get()
  list(): Promise<UserView[]> {
    return this.users.list();
  }

  @Post()
  @HttpCode(201)
  create(@Body({ schema: createUserBodySchema }) body: CreateUserBody): Promise<UserView> {
    return this.users.create(body);
  }

  @Patch(":id")
  update(
    @Param("id", ParseUUIDPipe) id: string,
    @Body({ schema: updateUserBodySchema }) body: UpdateUserBody,
  ): Promise<UserView> {
    return this.users.update(id, body);
  }

  @Delete(":id")
  @HttpCode(204)
  remove(@Param("id", ParseUUIDPipe) id: string): Promise<void> {
    return this.users.remove(id);
  }
}
