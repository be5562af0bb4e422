/// The OpenAPI 3.1 description of query-api, served at /openapi.json. Tests keep it in step with the
/// routes the service answers and check it with openapi-spec-validator.
enum OpenAPIDocument {
    static let json = #"""
        {
         "openapi": "3.1.0",
         "info": {
          "title": "Album catalog: query-api",
          "version": "1.0.0",
          "description": "Read side of the album catalog. Answers from a healthy, caught-up PostgreSQL replica (the primary as a capped fallback); a Consistency-Token from command-api makes a read reflect that write."
         },
         "servers": [
          {
           "url": "http://127.0.0.1:8081"
          }
         ],
         "paths": {
          "/albums": {
           "get": {
            "operationId": "listAlbums",
            "summary": "List and search albums, ordered by title then id",
            "parameters": [
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/ConsistencyToken"
             },
             {
              "$ref": "#/components/parameters/Limit"
             },
             {
              "$ref": "#/components/parameters/After"
             },
             {
              "name": "q",
              "in": "query",
              "required": false,
              "description": "case-insensitive substring of the title or the artist; % and _ are literal",
              "schema": {
               "type": "string",
               "maxLength": 200,
               "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*(?!\\n)$"
              }
             },
             {
              "name": "artist",
              "in": "query",
              "required": false,
              "description": "the artist, exactly",
              "schema": {
               "type": "string",
               "maxLength": 200,
               "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*(?!\\n)$"
              }
             }
            ],
            "responses": {
             "200": {
              "description": "a page of album summaries",
              "headers": {
               "As-Of": {
                "$ref": "#/components/headers/AsOf"
               },
               "Served-By": {
                "$ref": "#/components/headers/ServedBy"
               },
               "Cache-Status": {
                "$ref": "#/components/headers/CacheStatus"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/AlbumPage"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/BadRequest"
             },
             "503": {
              "$ref": "#/components/responses/Unavailable"
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {},
             {
              "bearer": [
               "catalog:read"
              ]
             }
            ]
           }
          },
          "/albums/{id}": {
           "get": {
            "operationId": "getAlbum",
            "summary": "An album",
            "parameters": [
             {
              "$ref": "#/components/parameters/AlbumId"
             },
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/ConsistencyToken"
             },
             {
              "name": "If-None-Match",
              "in": "header",
              "required": false,
              "description": "ETags (\"<version>\") the client holds; a match gives 304",
              "schema": {
               "type": "string"
              }
             }
            ],
            "responses": {
             "200": {
              "description": "the album view",
              "headers": {
               "As-Of": {
                "$ref": "#/components/headers/AsOf"
               },
               "Served-By": {
                "$ref": "#/components/headers/ServedBy"
               },
               "Cache-Status": {
                "$ref": "#/components/headers/CacheStatus"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               },
               "ETag": {
                "$ref": "#/components/headers/ETag"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/Album"
                }
               }
              }
             },
             "304": {
              "description": "the client's copy is current",
              "headers": {
               "As-Of": {
                "$ref": "#/components/headers/AsOf"
               },
               "Served-By": {
                "$ref": "#/components/headers/ServedBy"
               },
               "Cache-Status": {
                "$ref": "#/components/headers/CacheStatus"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               },
               "ETag": {
                "$ref": "#/components/headers/ETag"
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/BadRequest"
             },
             "503": {
              "$ref": "#/components/responses/Unavailable"
             },
             "404": {
              "$ref": "#/components/responses/NotFound"
             },
             "410": {
              "description": "the album was archived",
              "headers": {
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               }
              },
              "content": {
               "application/problem+json": {
                "schema": {
                 "$ref": "#/components/schemas/Problem"
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {},
             {
              "bearer": [
               "catalog:read"
              ]
             }
            ]
           }
          },
          "/albums/{id}/history": {
           "get": {
            "operationId": "getAlbumHistory",
            "summary": "An album's events, oldest first",
            "parameters": [
             {
              "$ref": "#/components/parameters/AlbumId"
             },
             {
              "$ref": "#/components/parameters/RequestId"
             },
             {
              "$ref": "#/components/parameters/ConsistencyToken"
             },
             {
              "$ref": "#/components/parameters/Limit"
             },
             {
              "$ref": "#/components/parameters/After"
             }
            ],
            "responses": {
             "200": {
              "description": "a page of the album's events",
              "headers": {
               "As-Of": {
                "$ref": "#/components/headers/AsOf"
               },
               "Served-By": {
                "$ref": "#/components/headers/ServedBy"
               },
               "Cache-Status": {
                "$ref": "#/components/headers/CacheStatus"
               },
               "Request-Id": {
                "$ref": "#/components/headers/RequestId"
               }
              },
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/HistoryPage"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/BadRequest"
             },
             "503": {
              "$ref": "#/components/responses/Unavailable"
             },
             "404": {
              "$ref": "#/components/responses/NotFound"
             },
             "401": {
              "$ref": "#/components/responses/Unauthorized"
             },
             "403": {
              "$ref": "#/components/responses/Forbidden"
             }
            },
            "security": [
             {},
             {
              "bearer": [
               "catalog:read"
              ]
             }
            ]
           }
          },
          "/health/live": {
           "get": {
            "operationId": "live",
            "summary": "The process runs",
            "responses": {
             "200": {
              "description": "alive",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object"
                }
               }
              }
             }
            }
           }
          },
          "/health/ready": {
           "get": {
            "operationId": "ready",
            "summary": "Some database node can answer reads",
            "responses": {
             "200": {
              "description": "ready",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/Readiness"
                }
               }
              }
             },
             "503": {
              "description": "not ready",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/Readiness"
                }
               }
              }
             }
            }
           }
          },
          "/metrics": {
           "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics",
            "responses": {
             "200": {
              "description": "Prometheus text exposition",
              "content": {
               "text/plain": {
                "schema": {
                 "type": "string"
                }
               }
              }
             }
            }
           }
          },
          "/openapi.json": {
           "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {
             "200": {
              "description": "OpenAPI 3.1",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object"
                }
               }
              }
             }
            }
           }
          }
         },
         "components": {
          "parameters": {
           "AlbumId": {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
             "type": "string",
             "format": "uuid"
            }
           },
           "RequestId": {
            "name": "Request-Id",
            "in": "header",
            "required": false,
            "description": "echoed in the response when it is 1 to 200 visible ASCII characters; any other value is replaced by a new id",
            "schema": {
             "type": "string"
            }
           },
           "ConsistencyToken": {
            "name": "Consistency-Token",
            "in": "header",
            "required": false,
            "description": "a token from command-api or an As-Of: the answer reflects every event up to it, or is 503 after the wait budget",
            "schema": {
             "type": "string",
             "pattern": "^(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,17})$"
            }
           },
           "Limit": {
            "name": "limit",
            "in": "query",
            "required": false,
            "schema": {
             "type": "integer",
             "minimum": 1,
             "maximum": 100,
             "default": 20
            }
           },
           "After": {
            "name": "after",
            "in": "query",
            "required": false,
            "description": "nextCursor of the previous page of the same query",
            "schema": {
             "type": "string",
             "maxLength": 2048,
             "pattern": "^[A-Za-z0-9_-]*(?!\\n)$"
            }
           }
          },
          "headers": {
           "ETag": {
            "description": "\"<version>\" of the album",
            "schema": {
             "type": "string"
            }
           },
           "AsOf": {
            "description": "the token the answer reflects",
            "schema": {
             "type": "string"
            }
           },
           "ServedBy": {
            "description": "the node that answered: a replica's name, or primary",
            "schema": {
             "type": "string"
            }
           },
           "CacheStatus": {
            "description": "RFC 9211; catalog; fwd=bypass while no cache is configured",
            "schema": {
             "type": "string"
            }
           },
           "RequestId": {
            "schema": {
             "type": "string"
            }
           },
           "RetryAfter": {
            "description": "seconds",
            "schema": {
             "type": "string"
            }
           }
          },
          "responses": {
           "BadRequest": {
            "description": "malformed id, token or query parameter",
            "headers": {
             "Request-Id": {
              "$ref": "#/components/headers/RequestId"
             }
            },
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "NotFound": {
            "description": "unknown album",
            "headers": {
             "Request-Id": {
              "$ref": "#/components/headers/RequestId"
             }
            },
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Unavailable": {
            "description": "no node can answer, or none reached the token within the budget",
            "headers": {
             "Retry-After": {
              "$ref": "#/components/headers/RetryAfter"
             },
             "Request-Id": {
              "$ref": "#/components/headers/RequestId"
             }
            },
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Unauthorized": {
            "description": "with --read-auth required: no token, or one the service does not accept (RFC 6750); the token is never echoed",
            "headers": {
             "WWW-Authenticate": {
              "schema": {
               "type": "string"
              },
              "description": "Bearer realm=\"catalog\", with error=\"invalid_token\" and why when a token was sent"
             }
            },
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Forbidden": {
            "description": "with --read-auth required: a valid token without the scope catalog:read",
            "headers": {
             "WWW-Authenticate": {
              "schema": {
               "type": "string"
              },
              "description": "Bearer realm=\"catalog\", error=\"insufficient_scope\", scope=\"...\""
             }
            },
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           }
          },
          "schemas": {
           "Problem": {
            "type": "object",
            "required": [
             "type",
             "title",
             "status"
            ],
            "properties": {
             "type": {
              "type": "string"
             },
             "title": {
              "type": "string"
             },
             "status": {
              "type": "integer"
             },
             "detail": {
              "type": "string"
             },
             "errors": {
              "type": "array",
              "items": {
               "type": "object",
               "required": [
                "field",
                "message"
               ],
               "properties": {
                "field": {
                 "type": "string"
                },
                "message": {
                 "type": "string"
                }
               }
              }
             }
            }
           },
           "Song": {
            "type": "object",
            "additionalProperties": false,
            "required": [
             "id",
             "title",
             "durationSeconds",
             "trackNumber"
            ],
            "properties": {
             "id": {
              "type": "string",
              "format": "uuid"
             },
             "title": {
              "type": "string"
             },
             "durationSeconds": {
              "type": [
               "integer",
               "null"
              ]
             },
             "trackNumber": {
              "type": "integer",
              "minimum": 1
             }
            }
           },
           "Album": {
            "type": "object",
            "additionalProperties": false,
            "required": [
             "id",
             "title",
             "artist",
             "releaseYear",
             "songs",
             "songCount",
             "totalDurationSeconds",
             "version",
             "createdAt",
             "updatedAt"
            ],
            "properties": {
             "id": {
              "type": "string",
              "format": "uuid"
             },
             "title": {
              "type": "string"
             },
             "artist": {
              "type": "string"
             },
             "releaseYear": {
              "type": [
               "integer",
               "null"
              ]
             },
             "songs": {
              "type": "array",
              "items": {
               "$ref": "#/components/schemas/Song"
              }
             },
             "songCount": {
              "type": "integer"
             },
             "totalDurationSeconds": {
              "type": "integer"
             },
             "version": {
              "type": "integer",
              "minimum": 1
             },
             "createdAt": {
              "type": "string",
              "format": "date-time"
             },
             "updatedAt": {
              "type": "string",
              "format": "date-time"
             }
            }
           },
           "AlbumSummary": {
            "type": "object",
            "additionalProperties": false,
            "required": [
             "id",
             "title",
             "artist",
             "releaseYear",
             "songCount",
             "version"
            ],
            "properties": {
             "id": {
              "type": "string",
              "format": "uuid"
             },
             "title": {
              "type": "string"
             },
             "artist": {
              "type": "string"
             },
             "releaseYear": {
              "type": [
               "integer",
               "null"
              ]
             },
             "songCount": {
              "type": "integer"
             },
             "version": {
              "type": "integer",
              "minimum": 1
             }
            }
           },
           "AlbumPage": {
            "type": "object",
            "additionalProperties": false,
            "required": [
             "items",
             "nextCursor"
            ],
            "properties": {
             "items": {
              "type": "array",
              "items": {
               "$ref": "#/components/schemas/AlbumSummary"
              }
             },
             "nextCursor": {
              "type": [
               "string",
               "null"
              ]
             }
            }
           },
           "HistoryEvent": {
            "type": "object",
            "additionalProperties": false,
            "required": [
             "version",
             "type",
             "recordedAt",
             "subject",
             "requestId",
             "data"
            ],
            "properties": {
             "version": {
              "type": "integer",
              "minimum": 1
             },
             "type": {
              "type": "string",
              "enum": [
               "AlbumCreated",
               "AlbumDetailsChanged",
               "SongAdded",
               "SongDetailsChanged",
               "SongRemoved",
               "TrackOrderChanged",
               "AlbumArchived"
              ]
             },
             "recordedAt": {
              "type": "string",
              "format": "date-time"
             },
             "subject": {
              "type": "string",
              "description": "who caused the event: the subject (sub) of the token its command came with; anonymous for a command without one (command-api's --write-auth off, or any event from before the audit trail)"
             },
             "requestId": {
              "type": [
               "string",
               "null"
              ],
              "description": "the Request-Id of the request that carried its command (the client's own when it sent one); null for events from before the audit trail"
             },
             "data": {
              "type": "object",
              "description": "the event's payload in its current schema"
             }
            }
           },
           "HistoryPage": {
            "type": "object",
            "additionalProperties": false,
            "required": [
             "events",
             "nextCursor"
            ],
            "properties": {
             "events": {
              "type": "array",
              "items": {
               "$ref": "#/components/schemas/HistoryEvent"
              }
             },
             "nextCursor": {
              "type": [
               "string",
               "null"
              ]
             }
            }
           },
           "Readiness": {
            "type": "object",
            "required": [
             "status",
             "dependencies"
            ],
            "properties": {
             "status": {
              "type": "string",
              "enum": [
               "ready",
               "not ready"
              ]
             },
             "dependencies": {
              "type": "object",
              "additionalProperties": {
               "type": "string"
              }
             }
            }
           }
          },
          "securitySchemes": {
           "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "a JWT signed by one of the keys of the service's key set (--auth-keys), with its issuer, audience, exp and the scope the operation needs"
           }
          }
         }
        }
        """#
}
